// One-update inspector: a typed document -> one real forward/backward and the optimizer update it implies,
// computed by the engines' own optimizer (the worker runs engines.optim.preview_step on copies of the state).
import {ask, guarded, readyRun} from './api.js';
import {el, sci} from './format.js';

const $ = (id) => document.getElementById(id);

export class Inspector {
  constructor(lab) {
    this.lab = lab;
    const clear = () => this.clear();
    $('in-compute').onclick = guarded(() => this.inspect(false), {onFail: clear});
    $('in-apply').onclick = guarded(() => this.inspect(true), {onFail: clear});
    lab.on('run', clear);          // a new run (or none): the old run's numbers no longer apply
  }

  clear() { this.last = null; $('in-summary').textContent = ''; $('in-table').tBodies[0].replaceChildren(); }

  async inspect(apply) {
    this.clear();
    if (!this.lab.runner.id) throw new Error('start a run first: the inspector uses the runner\'s model');
    const id = await readyRun(this.lab.runner, () => { $('in-summary').textContent = 'waiting for the run to start…'; });
    if (!id) { this.clear(); return; }
    $('in-summary').textContent = 'computing…';
    // a new run may be another family, with other parameters: ask for its first one until its list is known
    const param = id === this.paramsOf ? $('in-param').value : '';
    const r = await ask(id, {q: 'inspect', document: $('in-doc').value, param, apply});
    if (id !== this.lab.runner.id) return;       // the run was reset meanwhile
    this.last = r;
    this.lab.emit('inspected', {document: $('in-doc').value, ...r});
    const select = $('in-param');
    if (id !== this.paramsOf) {
      select.replaceChildren(...r.params.map((p) => new Option(p, p)));
      select.value = r.param;
      this.paramsOf = id;
    }
    const decay = r.weight_decay ? ` · weight decay ${r.weight_decay} applies to this parameter` :
      r.optimizer === 'adamw' ? ' · no weight decay on this parameter' : '';
    let text = `mean cross-entropy ${r.loss.toFixed(4)} · ${r.optimizer} step t=${r.t} · lr_t ${sci(r.lr)} · ` +
      `grad norm ${sci(r.grad_norm)}${r.clip_scale < 1 ? ` (clipped ×${r.clip_scale.toFixed(3)})` : ''}${decay} · ` +
      `${r.param} ${JSON.stringify(r.shape)}: the 8 entries with the largest gradient`;
    if (r.applied) text += ` · applied: loss on this document now ${r.loss_after.toFixed(4)}`;
    $('in-summary').textContent = text;
    const cell = (v) => el('td', {}, v === undefined ? '–' : sci(v));
    $('in-table').tBodies[0].replaceChildren(...r.rows.map((row, i) => el('tr', {},
      el('td', {}, `[${row.index.join(',')}]`), cell(row.value), cell(row.grad), cell(row.m), cell(row.v),
      cell(row.m_hat), cell(row.v_hat), cell(row.delta), cell(r.applied ? r.actual_delta[i] : undefined))));
  }
}
