// Download the runner's state as a checkpoint; upload one to continue exactly where it left off.
import {guarded, postBytes, startRun, url} from './api.js';

const $ = (id) => document.getElementById(id);

export class Checkpoints {
  constructor(lab) {
    this.lab = lab;
    lab.on('run', (id) => {
      const link = $('ck-download');
      link.classList.toggle('disabled', !id);
      link.href = id ? url(`api/runs/${id}/checkpoint`) : '#';
    });
    $('ck-file').onchange = guarded(async (e) => {
      const file = e.target.files[0];
      if (!file) return;
      $('ck-info').textContent = 'checking…';
      try {
        const up = await postBytes('api/uploads/checkpoint', file);
        const runner = lab.runner;
        // an uploaded text goes along: a checkpoint trained on a local file continues on it (vocab checked)
        await runner.start({resume: up.id, upload: lab.textUpload || '', engine: $('engine').value, paused: true});
        this.resumed = up;
        $('ck-info').textContent = `loaded ${file.name}: ${up.preset}, iter ${up.iter} of ${up.steps} — ` +
          'press Resume or Single step to continue exactly where it left off';
      } catch (err) { $('ck-info').textContent = ''; e.target.value = ''; throw err; }
      e.target.value = '';
    });
  }
}
