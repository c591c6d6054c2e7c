// Download the runner's state as a checkpoint; upload one to continue exactly where it left off.
import {uploadOnChange, url} from './api.js';

const $ = (id) => document.getElementById(id);

export class Checkpoints {
  constructor(lab) {
    this.lab = lab;
    lab.on('run', (id) => {
      const link = $('ck-download');
      link.classList.toggle('disabled', !id);
      link.href = id ? url(`api/runs/${id}/checkpoint`) : '#';
    });
    uploadOnChange($('ck-file'), 'api/uploads/checkpoint', $('ck-info'), 'checking…', async (up, file) => {
      // an uploaded text goes along: a checkpoint trained on a local file continues on it (vocab checked)
      await lab.runner.start({resume: up.id, upload: lab.textUpload || '', engine: $('engine').value, paused: true});
      this.resumed = up;
      $('ck-info').textContent = `loaded ${file.name}: ${up.preset}, iter ${up.iter} of ${up.steps} — ` +
        'press Resume or Single step to continue exactly where it left off';
    }, {reset: true});
  }
}
