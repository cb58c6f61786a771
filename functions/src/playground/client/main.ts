/**
 * The playground page's script: key, photo and settings in; job created, photo uploaded to the
 * presigned form, progress followed, result compared. Everything goes through the public API
 * (see api.ts); nothing here is privileged.
 */
import { ApiError, formatBytes, PlaygroundApi, type FaceBox, type PlaygroundJob } from './api.js';
import { CompareView } from './compare.js';
import { byId, el } from './dom.js';
import { buildOptionsForm, rememberSettings, type OptionsForm } from './options.js';
import { photoRefusal } from './photo.js';
import { downloadLink, renderFigures, resultSentences } from './result.js';
import { watchJob, type JobUpdate, type ProgressMode } from './watch.js';

const KEY_STORAGE = 'dr2e.apiKey';
/** The job this tab is following, so a reload (or a phone discarding the tab) can pick it up again. */
const JOB_STORAGE = 'dr2e.currentJob';
/**
 * The job whose photo this tab is uploading: a reload cuts the upload off, and the job would wait
 * for a photo that never comes, holding a slot of the key's limit until it expires (24 h).
 */
const UPLOAD_STORAGE = 'dr2e.uploadingJob';

const keyForm = byId('key-form', HTMLFormElement);
const keyInput = byId('api-key', HTMLInputElement);
const keyStatus = byId('key-status', HTMLElement);
const jobForm = byId('job-form', HTMLFormElement);
const photoInput = byId('photo', HTMLInputElement);
const photoName = byId('photo-name', HTMLElement);
const dropZone = byId('drop-zone', HTMLElement);
const optionsBox = byId('options', HTMLFieldSetElement);
const submitButton = byId('submit', HTMLButtonElement);
const progressSection = byId('progress-section', HTMLElement);
const progressText = byId('progress-text', HTMLElement);
const progressBar = byId('progress-bar', HTMLProgressElement);
const jobIdText = byId('job-id', HTMLElement);
const cancelButton = byId('cancel-job', HTMLButtonElement);
const errorSection = byId('error-section', HTMLElement);
const resultSection = byId('result-section', HTMLElement);
const leftImage = byId('left-image', HTMLSelectElement);
const beforeNote = byId('before-note', HTMLElement);
const downloads = byId('downloads', HTMLElement);
const resultNotes = byId('result-notes', HTMLUListElement);
const figures = byId('figures', HTMLDListElement);
const errorFigures = byId('error-figures', HTMLDListElement);

const progressMode: ProgressMode = document.body.dataset.progress === 'poll' ? 'poll' : 'events';
const compare = new CompareView({
  viewport: byId('compare', HTMLElement),
  stage: byId('stage', HTMLElement),
  before: byId('before-image', HTMLImageElement),
  after: byId('after-image', HTMLImageElement),
  faces: byId('faces', HTMLElement),
  divider: byId('divider', HTMLElement),
  split: byId('split', HTMLInputElement),
  zoom: byId('zoom', HTMLSelectElement),
  showFaces: byId('show-faces', HTMLInputElement),
  faceLegend: byId('face-legend', HTMLElement),
});

let options: OptionsForm | undefined;
let photo: File | undefined;
/** Object URLs of the current result, revoked when the next one replaces it. */
let objectUrls: string[] = [];

/**
 * Scrolls `section` into the window where it is not wholly in it: on a phone the progress, the
 * error and the result all open below the Restore button, out of sight, and a user who sees
 * nothing happen presses again or leaves.
 */
function bringIntoView(section: HTMLElement, block: ScrollLogicalPosition = 'nearest'): void {
  const reduced = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  section.scrollIntoView({ block, behavior: reduced ? 'auto' : 'smooth' });
}

/** A key as pasted: `Bearer <key>` (copied from a curl line) is the key itself. */
function pastedKey(text: string): string {
  return text.trim().replace(/^bearer\s+/i, '');
}

function setState(state: 'idle' | 'working' | 'succeeded' | 'failed'): void {
  document.body.dataset.state = state;
  submitButton.disabled = state === 'working';
  if (state !== 'working') cancelButton.hidden = true;
}

function currentKey(): string {
  return sessionStorage.getItem(KEY_STORAGE) ?? '';
}

/** Whether the API refused the key itself (unknown, revoked or suspended), not the request. */
function refusesKey(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 401 || error.status === 403);
}

/** A key the server refused is not kept in the tab (it would be read back after a reload). */
function forgetIfStored(key: string): void {
  if (sessionStorage.getItem(KEY_STORAGE) === key) sessionStorage.removeItem(KEY_STORAGE);
}

/** The server refused `key`: it leaves the tab, and the key's status says why. */
function showKeyRefused(key: string, error: unknown): void {
  forgetIfStored(key);
  keyStatus.textContent = `Key refused: ${describe(error)}`;
  keyStatus.dataset.ok = 'false';
}

// --- API key ---------------------------------------------------------------------------------
keyInput.value = currentKey();
if (keyInput.value) keyStatus.textContent = 'Key loaded from this tab.';
keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = pastedKey(keyInput.value);
  keyInput.value = key;
  if (!key) {
    keyStatus.textContent = 'Paste an API key first.';
    return;
  }
  keyStatus.textContent = 'Checking the key...';
  delete keyStatus.dataset.ok;
  // Kept in the tab once the server has not refused it, never before: stored first, a refused
  // key lived there while it was checked (and for good where the check never answered).
  new PlaygroundApi('', key).whoAmI().then(
    (tenant) => {
      sessionStorage.setItem(KEY_STORAGE, key);
      keyStatus.textContent = `Key works (tenant: ${tenant}).`;
      keyStatus.dataset.ok = 'true';
    },
    (error: unknown) => {
      if (refusesKey(error)) showKeyRefused(key, error);
      else {
        // The network or the server failed, not the key: it is kept, and Restore will try it.
        sessionStorage.setItem(KEY_STORAGE, key);
        keyStatus.textContent = `Could not check the key (${describe(error)}); it is kept for this tab.`;
      }
    },
  );
});
byId('forget-key', HTMLButtonElement).addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  keyInput.value = '';
  keyStatus.textContent = 'Key forgotten.';
});

// --- Photo -----------------------------------------------------------------------------------
function choosePhoto(file: File | undefined): void {
  photo = file;
  // An error of the last attempt says nothing about this photo.
  if (document.body.dataset.state === 'failed') errorSection.hidden = true;
  photoName.textContent = file ? `${file.name || 'photo'} (${formatBytes(file.size)})` : '';
  delete photoName.dataset.refused;
  if (!file) return;
  // A format the service refuses (a GIF, a text file named .jpg) is said at once, with the
  // formats it takes, rather than after a job was created and the photo uploaded for nothing.
  // (It stays chosen: Restore says the same, with the API's code.)
  void photoRefusal(file).then((refusal) => {
    if (!refusal || photo !== file) return; // another photo was chosen meanwhile
    photoName.textContent = refusal.message;
    photoName.dataset.refused = 'true';
  });
}
photoInput.addEventListener('change', () => choosePhoto(photoInput.files?.[0]));
// A photo dropped anywhere is taken (the browser would otherwise open it and leave the page).
window.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('over');
});
window.addEventListener('dragleave', (event) => {
  if (event.relatedTarget === null) dropZone.classList.remove('over');
});
window.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('over');
  const file = event.dataTransfer?.files[0];
  if (!file) return;
  // The file control takes the dropped photo too: left alone, it went on naming the photo picked
  // before, and picking that one again fired no `change`, so the dropped one was restored.
  try {
    const transfer = new DataTransfer();
    transfer.items.add(file);
    photoInput.files = transfer.files;
  } catch {
    photoInput.value = ''; // no DataTransfer constructor: at least the next pick is a change
  }
  choosePhoto(file);
});

// --- Settings from the API's schema ----------------------------------------------------------
fetch('/openapi.json')
  .then((response) => response.json() as Promise<unknown>)
  .then((document_) => {
    byId('options-loading', HTMLElement).remove();
    options = buildOptionsForm(optionsBox, document_);
    rememberSettings(optionsBox, sessionStorage);
    optionsBox.dataset.ready = 'true';
  })
  .catch((error: unknown) => {
    byId('options-loading', HTMLElement).textContent =
      `Could not read the API's parameters (${describe(error)}); the defaults apply.`;
  });

// --- Run a job -------------------------------------------------------------------------------
function describe(error: unknown): string {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function showError(code: string, message: string, title = 'Failed'): void {
  byId('error-title', HTMLElement).textContent = title;
  // A determinate, empty bar: nothing is running any more.
  progressBar.max = 1;
  progressBar.value = 0;
  byId('error-code', HTMLElement).textContent = code;
  byId('error-message', HTMLElement).textContent = message;
  // A job's figures are added by follow(); none belong to another error.
  errorFigures.replaceChildren();
  errorFigures.hidden = true;
  // A cancel the user asked for is no failure: shown as a notice, not in red (styles.css).
  errorSection.dataset.kind = title === 'Canceled' ? 'notice' : 'error';
  errorSection.hidden = false;
  setState('failed');
  bringIntoView(errorSection);
}

function showProgress(update: JobUpdate): void {
  const labels: Record<string, string> = {
    created: 'Uploading the photo...',
    uploaded: 'Uploaded; queueing...',
    queued: 'Queued; waiting for a worker...',
    running: 'Running...',
    // watch.ts: a poll failed for a reason that says nothing about the job; it is tried again.
    reconnecting: 'Connection lost; trying again (the job goes on)...',
  };
  const progress = update.progress;
  if (update.status === 'running' && progress && progress.total > 0) {
    progressText.textContent = `Restoring: step ${progress.step} of ${progress.total}`;
    progressBar.max = progress.total;
    progressBar.value = progress.step;
  } else {
    progressText.textContent = labels[update.status] ?? update.status;
    progressBar.removeAttribute('value');
  }
  progressSection.dataset.via = update.via;
}

async function blobUrl(url: string): Promise<{ url: string; type: string }> {
  const response = await fetch(url);
  if (!response.ok)
    throw new ApiError(`http_${response.status}`, `could not download ${url}`, response.status);
  const blob = await response.blob();
  const objectUrl = URL.createObjectURL(blob);
  objectUrls.push(objectUrl);
  return { url: objectUrl, type: blob.type };
}

const extensionOf = (type: string, fallback: string) =>
  ({ 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' })[type] ?? fallback;

/**
 * Shows a finished job. `input` is the photo this tab uploaded; absent for a job picked up after
 * a reload (the page cannot read the file again), when only the result (and DR2's) is shown.
 */
async function showResult(job: PlaygroundJob, input: File | undefined): Promise<void> {
  for (const url of objectUrls) URL.revokeObjectURL(url);
  objectUrls = [];
  const restoredLink = job.output?.restored?.url;
  if (!restoredLink) throw new ApiError('no_output', 'the job succeeded but has no output link', 500);
  const restored = await blobUrl(restoredLink);
  const dr2 = job.output?.dr2?.url ? await blobUrl(job.output.dr2.url) : undefined;
  const inputUrl = input ? URL.createObjectURL(input) : undefined;
  if (inputUrl) objectUrls.push(inputUrl);

  resultSection.hidden = false;
  const { beforeDecoded } = await compare.show(inputUrl, restored.url);
  leftImage.replaceChildren(el('option', { value: 'input', textContent: 'Input' }));
  if (dr2) leftImage.append(el('option', { value: 'dr2', textContent: 'DR2 intermediate' }));
  leftImage.onchange = () => {
    const url = leftImage.value === 'dr2' && dr2 ? dr2.url : inputUrl;
    void (url ? compare.setBefore(url) : Promise.resolve(compare.clearBefore())).then((decoded) => {
      beforeNote.textContent = decoded ? '' : beforeMissing;
    });
  };
  // The DR2 intermediate is offered only when the job kept one (an option that is not there
  // is no advice).
  const beforeMissing = inputUrl
    ? `This browser cannot display the input (HEIC, for example); ${dr2 ? 'pick the DR2 intermediate or download the result.' : 'the result is shown and can be downloaded.'}`
    : 'The photo was chosen before this page was reloaded, so it cannot be shown; the result is.';
  beforeNote.textContent = beforeDecoded ? '' : beforeMissing;
  resultNotes.replaceChildren(...resultSentences(job).map((text) => el('li', { textContent: text })));
  resultNotes.hidden = resultNotes.childElementCount === 0;

  const faces: FaceBox[] = job.output?.faces ?? [];
  const before = byId('before-image', HTMLImageElement);
  const after = byId('after-image', HTMLImageElement);
  // Boxes are in input pixels. Without the input shown (HEIC, a reload) its size is the output's
  // over the upscale applied, which is less than the one asked for where it was capped: dividing
  // by params.upscale put the boxes of a capped 4x job at half their place, off the picture.
  // An older job that was capped does not say by how much: no boxes rather than wrong ones.
  const capped = job.output?.warnings?.includes('upscale_capped') ?? false;
  const requested = Number((job.params as Record<string, unknown>).upscale ?? 1) || 1;
  const upscale = job.output?.upscale ?? (capped ? Number.NaN : requested);
  const inputWidth = beforeDecoded ? before.naturalWidth : after.naturalWidth / upscale;
  const inputHeight = beforeDecoded ? before.naturalHeight : after.naturalHeight / upscale;
  compare.setFaces(faces, inputWidth, inputHeight, job.output?.skippedFaces ?? []);

  const ext = extensionOf(restored.type, job.output?.format ?? 'png');
  downloads.replaceChildren(
    downloadLink('Download restored', restored.url, `${job.id}-restored.${ext}`),
    ...(dr2
      ? [downloadLink('Download DR2 intermediate', dr2.url, `${job.id}-dr2.${extensionOf(dr2.type, 'png')}`)]
      : []),
  );
  renderFigures(figures, job);
}

jobForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void run();
});

async function run(): Promise<void> {
  // The field first: a key corrected after a refusal must win over the one this tab stored.
  const key = pastedKey(keyInput.value) || currentKey();
  errorSection.hidden = true;
  if (!key) return showError('missing_key', 'Paste an API key in step 1 first.');
  if (!photo) return showError('missing_photo', 'Choose a photo first.');
  const outOfRange = options?.outOfRange();
  if (outOfRange) return showError('invalid_setting', outOfRange);
  const input = photo;
  setState('working'); // from here: no second job from a second click while the photo is read
  // Refused here, before a job exists: a job whose upload never arrives holds a slot of the
  // key's jobs-in-flight limit until it expires. (Again: a click can come before choosePhoto's
  // own check has read the file.)
  const refusal = await photoRefusal(input);
  if (refusal) return showError(refusal.code, refusal.message);
  const api = new PlaygroundApi('', key);
  resultSection.hidden = true;
  progressSection.hidden = false;
  jobIdText.textContent = '';
  progressText.textContent = 'Creating the job...';
  progressBar.removeAttribute('value');
  bringIntoView(progressSection);
  let created: { id: string } | undefined;
  let uploaded = false;
  try {
    const job = await api.createJob(options?.body() ?? {});
    created = job;
    // The server took the key (typed in the field, perhaps without "Use key"): kept from here
    // on, so that a reload can pick this job up again. Stored before the call, a mistyped key
    // stayed in the tab after the server had refused it.
    sessionStorage.setItem(KEY_STORAGE, key);
    sessionStorage.setItem(UPLOAD_STORAGE, job.id);
    offerCancel(api, job.id);
    if (!job.upload) throw new ApiError('no_upload_form', 'the API returned no upload form', 500);
    showProgress({ status: 'created', via: 'poll' });
    await api.upload(job.upload, input);
    uploaded = true;
    sessionStorage.removeItem(UPLOAD_STORAGE);
    sessionStorage.setItem(JOB_STORAGE, job.id);
    showProgress({ status: 'uploaded', via: 'poll' });
    await follow(api, job.id, input);
  } catch (error) {
    let message = error instanceof Error ? error.message : String(error);
    if (!created && refusesKey(error)) forgetIfStored(key); // e.g. a stored key since revoked
    if (created && !uploaded) {
      sessionStorage.removeItem(UPLOAD_STORAGE);
      // Nothing will ever be uploaded to it: cancel it, so it stops counting as in flight.
      const canceled = await api.cancelJob(created.id).then(
        () => true,
        () => false,
      );
      if (canceled) message += ' (the job was canceled: it no longer counts against your limit)';
    }
    progressText.textContent = 'Stopped.';
    showError(error instanceof ApiError ? error.code : 'client_error', message);
  }
}

/** Shows the job id and a Cancel button that asks the API (the watch ends with `job.canceled`). */
function offerCancel(api: PlaygroundApi, id: string): void {
  jobIdText.textContent = `Job ${id}`;
  cancelButton.hidden = false;
  cancelButton.disabled = false;
  cancelButton.onclick = () => {
    cancelButton.disabled = true;
    api.cancelJob(id).catch((error: unknown) => {
      cancelButton.disabled = false;
      progressText.textContent = `Could not cancel: ${describe(error)}`;
    });
  };
}

/** Follows an uploaded job to its end and shows the outcome; `input` as for showResult. */
async function follow(api: PlaygroundApi, id: string, input: File | undefined): Promise<void> {
  const job = await watchJob(api, id, progressMode, showProgress);
  sessionStorage.removeItem(JOB_STORAGE);
  if (job.status !== 'succeeded') {
    const error = job.error ?? { code: job.status, message: `the job ended ${job.status}` };
    progressText.textContent = `Job ${job.status}.`;
    // A cancel the user asked for: what it costs, from the job's usage (none before it ran).
    const billed = job.usage
      ? ' Only the model time it ran is billed (below), no image.'
      : ' Nothing is billed.';
    const message =
      job.status === 'canceled' && error.code === 'canceled' && error.message === 'canceled by request'
        ? `The job was canceled as asked.${billed}`
        : error.message;
    showError(error.code, message, job.status === 'canceled' ? 'Canceled' : 'Failed');
    // The figures that apply (times, attempts, model time billed for a canceled run) go under the
    // error: they were written into the result section, which stays hidden for a failed job.
    renderFigures(errorFigures, job);
    errorFigures.hidden = false;
    return;
  }
  progressText.textContent = 'Done.';
  progressBar.max = 1;
  progressBar.value = 1;
  await showResult(job, input);
  setState('succeeded');
  bringIntoView(resultSection, 'start');
}

/**
 * After a reload: the job this tab was following, if any, is followed again (it kept running
 * and is billed; without this its result and its Cancel button were lost with the page).
 */
async function resume(): Promise<void> {
  const key = currentKey();
  const interrupted = sessionStorage.getItem(UPLOAD_STORAGE);
  sessionStorage.removeItem(UPLOAD_STORAGE);
  if (interrupted && key && (await cancelInterruptedUpload(key, interrupted))) return;
  const id = sessionStorage.getItem(JOB_STORAGE);
  if (!id || !key) return;
  const api = new PlaygroundApi('', key);
  setState('working');
  progressSection.hidden = false;
  bringIntoView(progressSection);
  progressText.textContent = 'Picking up the job started before this page was reloaded...';
  progressBar.removeAttribute('value');
  offerCancel(api, id);
  try {
    await follow(api, id, undefined);
  } catch (error) {
    sessionStorage.removeItem(JOB_STORAGE);
    // A key revoked or suspended since the job started: not tried again at every reload.
    if (refusesKey(error)) showKeyRefused(key, error);
    progressText.textContent = 'Stopped.';
    showError(
      error instanceof ApiError ? error.code : 'client_error',
      error instanceof Error ? error.message : String(error),
    );
  }
}

/**
 * After a reload during an upload: the job still waiting for its photo is canceled (the file
 * went with the page) and the page says so; returns false when the upload got through just
 * before the reload, and the job is then followed as any other.
 */
async function cancelInterruptedUpload(key: string, id: string): Promise<boolean> {
  const api = new PlaygroundApi('', key);
  const job = await api.getJob(id).catch((error: unknown) => {
    if (refusesKey(error)) showKeyRefused(key, error);
    return undefined;
  });
  if (job && job.status !== 'created') {
    sessionStorage.setItem(JOB_STORAGE, id);
    return false;
  }
  const canceled = await api.cancelJob(id).then(
    () => true,
    () => false,
  );
  progressSection.hidden = false;
  jobIdText.textContent = `Job ${id}`;
  progressText.textContent = 'Stopped.';
  showError(
    'upload_interrupted',
    `The page was reloaded while the photo was uploading${canceled ? '; its job was canceled, so it no longer counts against your limit' : ''}. Choose the photo again.`,
    'Canceled',
  );
  return true;
}

setState('idle');
void resume();
