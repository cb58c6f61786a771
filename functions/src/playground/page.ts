/**
 * The playground's HTML: static markup only (no inline script or style, so the CSP can forbid
 * both). The bundled script fills in the parameter controls from `/openapi.json` and drives the
 * flow; `data-progress` tells it whether to follow a job with server-sent events or by polling.
 */
import { ACCEPTED_FORMATS_TEXT } from './client/photo.js';

export interface PlaygroundPageConfig {
  /** `events`: `GET /v1/jobs/{id}/events` (falls back to polling); `poll`: `GET /v1/jobs/{id}` only. */
  progress: 'events' | 'poll';
  scriptPath: string;
  stylesPath: string;
}

const escapeAttribute = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The page for one deployment mode. */
export function playgroundHtml(config: PlaygroundPageConfig): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dr2e playground</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${escapeAttribute(config.stylesPath)}">
<script type="module" src="${escapeAttribute(config.scriptPath)}"></script>
</head>
<body data-progress="${escapeAttribute(config.progress)}">
<a class="skip" href="#photo-section">Skip to the photo</a>
<header>
  <h1>dr2e playground</h1>
  <p>Restore the faces of a photo with the DR2E API, then compare before and after.
  This page uses the public API like any client: <a href="/openapi.json">OpenAPI document</a>.</p>
</header>
<main>
  <section aria-labelledby="key-heading" class="card">
    <h2 id="key-heading">1. API key</h2>
    <form id="key-form" class="row" autocomplete="off">
      <label for="api-key">API key</label>
      <input id="api-key" name="api-key" type="password" spellcheck="false" autocapitalize="off"
        placeholder="dr2e_sk_..." aria-describedby="key-help">
      <button type="submit">Use key</button>
      <button type="button" id="forget-key" class="secondary">Forget</button>
    </form>
    <p id="key-help" class="help">Kept in this tab only (sessionStorage). <code>npm start</code> prints a local key.</p>
    <p id="key-status" class="status" role="status"></p>
  </section>

  <section id="photo-section" aria-labelledby="photo-heading" class="card">
    <h2 id="photo-heading">2. Photo and settings</h2>
    <form id="job-form" novalidate>
      <div id="drop-zone" class="drop-zone">
        <label for="photo">Photo (${ACCEPTED_FORMATS_TEXT})</label>
        <input id="photo" name="photo" type="file" accept="image/*,.heic,.heif,.hif" aria-describedby="drop-help">
        <p id="drop-help" class="help">Drop a photo here, pick a file, or take one with the camera on a phone.</p>
        <p id="photo-name" class="status" aria-live="polite"></p>
      </div>
      <fieldset id="options">
        <legend>Settings</legend>
        <p class="help" id="options-loading">Loading the API's parameters...</p>
      </fieldset>
      <button type="submit" id="submit" class="primary">Restore</button>
    </form>
  </section>

  <section aria-labelledby="progress-heading" class="card" id="progress-section" hidden>
    <h2 id="progress-heading">3. Progress</h2>
    <p id="progress-text" class="status" role="status" aria-live="polite"></p>
    <progress id="progress-bar" max="1" value="0" aria-labelledby="progress-text"></progress>
    <p id="job-id" class="help"></p>
    <button type="button" id="cancel-job" class="secondary" hidden>Cancel job</button>
  </section>

  <section id="error-section" class="card error" hidden>
    <div role="alert">
      <h2 id="error-title">Failed</h2>
      <p><code id="error-code"></code> <span id="error-message"></span></p>
    </div>
    <dl id="error-figures" class="figures" hidden></dl>
  </section>

  <section aria-labelledby="result-heading" class="card" id="result-section" hidden>
    <h2 id="result-heading">4. Result</h2>
    <ul id="result-notes" class="notes" role="status" hidden></ul>
    <div class="controls">
      <label for="left-image">Left side</label>
      <select id="left-image">
        <option value="input">Input</option>
      </select>
      <label for="zoom">Zoom</label>
      <select id="zoom">
        <option value="fit">Fit</option>
        <option value="1">100 %</option>
        <option value="2">200 %</option>
        <option value="4">400 %</option>
      </select>
      <label class="check"><input type="checkbox" id="show-faces" checked> Face boxes</label>
      <span id="face-legend" class="face-legend" hidden></span>
    </div>
    <div id="compare" class="compare" tabindex="0" aria-label="Before and after comparison; drag or use the split slider">
      <div id="stage" class="stage">
        <img id="before-image" alt="Before (left side)" draggable="false">
        <img id="after-image" alt="Restored (right side)" draggable="false">
        <div id="faces" class="faces"></div>
        <div id="divider" class="divider" aria-hidden="true"></div>
      </div>
    </div>
    <label for="split" class="split-label">Split (left image to the left, restored to the right)</label>
    <input id="split" type="range" min="0" max="100" step="1" value="50">
    <p id="before-note" class="help"></p>
    <div id="downloads" class="row downloads"></div>
    <dl id="figures" class="figures"></dl>
  </section>
</main>
</body>
</html>
`;
}
