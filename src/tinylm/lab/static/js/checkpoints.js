// Download the runner's state as a checkpoint; upload one to continue exactly where it left off.
import {modelReady, uploadOnChange, url} from './api.js';

const $ = (id) => document.getElementById(id);

export class Checkpoints {
  constructor(lab) {
    this.lab = lab;
    // the link works once the run's model exists (a queued or starting run has nothing to save yet)
    const follow = () => {
      const runner = lab.runner, ready = !!runner && modelReady(runner);
      // the full checkpoint (resumable) and the weights alone (no optimizer state: smaller, not resumable)
      for (const [id, query] of [['ck-download', ''], ['ck-download-weights', '?weights_only=1']]) {
        const link = $(id);
        link.classList.toggle('disabled', !ready);
        link.setAttribute('aria-disabled', String(!ready));
        link.href = ready ? url(`api/runs/${runner.id}/checkpoint${query}`) : '#';
      }
    };
    lab.on('run', follow);
    lab.on('event', (m, runner) => { if (runner === lab.runner && (m.event === 'status' || m.event === 'start')) follow(); });
    uploadOnChange($('ck-file'), 'api/uploads/checkpoint', $('ck-info'), 'checking…', async (up, file) => {
      // an uploaded text goes along: a checkpoint trained on a local file continues on it (vocab checked)
      await lab.runner.start({resume: up.id, upload: lab.textUpload || '', engine: $('engine').value, paused: true});
      this.resumed = up;
      $('ck-info').textContent = `loaded ${file.name}: ${up.preset}, iter ${up.iter} of ${up.steps} — ` +
        'press Resume or Single step to continue exactly where it left off';
    }, {reset: true});
  }
}
