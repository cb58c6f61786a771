/**
 * The before/after viewer: two images stacked at the same size, each clipped to its side of the
 * split.
 * "Fit" scales to the column; 100 % and more show image pixels 1:1 or larger inside a scrolling
 * box; a change of zoom keeps the point at the centre of the view in place. The split follows a
 * drag on the images (mouse, pen or touch) and the labelled range input (keyboard).
 */
import type { FaceBox, SkippedFaceBox } from './api.js';
import { el } from './dom.js';

/** What the page says about a face that was found and left untouched (`skippedFaces[].reason`). */
export const SKIP_REASON_TEXT: Readonly<Record<string, string>> = {
  max_faces: 'beyond the most faces asked for',
  min_face: 'smaller than the smallest face asked for',
};

/** How far a finger moves before its touch is a drag rather than a tap (CSS pixels). */
const TOUCH_SLOP_PX = 8;

export interface CompareElements {
  viewport: HTMLElement;
  stage: HTMLElement;
  before: HTMLImageElement;
  after: HTMLImageElement;
  faces: HTMLElement;
  divider: HTMLElement;
  split: HTMLInputElement;
  zoom: HTMLSelectElement;
  showFaces: HTMLInputElement;
  /** Says what each style of face box means (filled by setFaces with the kinds present). */
  faceLegend: HTMLElement;
}

/** The kinds of face box, in the legend's order: class name and what the legend says. */
const FACE_KINDS = [
  ['restored', 'restored'],
  ['kept', 'kept as is'],
  ['skipped', 'left untouched'],
] as const;

export class CompareView {
  private zoom: 'fit' | number = 'fit';
  private dragging = false;
  /** Where the touch being followed began, and whether it became a sideways drag of the split. */
  private touch: { x: number; y: number; sideways: boolean } | undefined;

  constructor(private readonly parts: CompareElements) {
    parts.split.addEventListener('input', () => this.setSplit(Number(parts.split.value)));
    parts.zoom.addEventListener('change', () => {
      // The point the user looks at stays where it is, as in any photo viewer: left alone, the
      // box kept its scroll offsets (0, 0 from Fit), so every zoom jumped to the top-left corner.
      const looked = this.pictureAtViewCentre();
      this.zoom = parts.zoom.value === 'fit' ? 'fit' : Number(parts.zoom.value);
      this.layout();
      if (looked) this.centreOn(looked);
    });
    parts.showFaces.addEventListener('change', () => this.showFaceBoxes());
    const fromPointer = (event: PointerEvent) => {
      const rect = parts.stage.getBoundingClientRect();
      if (rect.width > 0) this.setSplit(((event.clientX - rect.left) / rect.width) * 100);
    };
    parts.stage.addEventListener('pointerdown', (event) => {
      // No native image drag or text selection: the gesture moves the split.
      event.preventDefault();
      this.dragging = true;
      parts.stage.setPointerCapture(event.pointerId);
      // A finger may be starting a scroll (of the page, or of a zoomed image) that the browser
      // takes over with a pointercancel after a move or two: following it from the start made
      // every such swipe jump the split. A touch moves the split by a tap, or by a sideways
      // drag at "Fit" (zoomed, a drag pans the image; the slider still moves the split).
      if (event.pointerType === 'touch') this.touch = { x: event.clientX, y: event.clientY, sideways: false };
      else fromPointer(event);
    });
    parts.stage.addEventListener('pointermove', (event) => {
      if (!this.dragging) return;
      const touch = this.touch;
      if (touch && !touch.sideways) {
        const dx = Math.abs(event.clientX - touch.x);
        if (this.zoom !== 'fit' || dx < TOUCH_SLOP_PX || dx <= Math.abs(event.clientY - touch.y)) return;
        touch.sideways = true;
      }
      fromPointer(event);
    });
    parts.stage.addEventListener('pointerup', (event) => {
      const touch = this.touch;
      const tap =
        touch &&
        Math.abs(event.clientX - touch.x) < TOUCH_SLOP_PX &&
        Math.abs(event.clientY - touch.y) < TOUCH_SLOP_PX;
      if (this.dragging && tap) fromPointer(event);
      this.dragging = false;
      this.touch = undefined;
    });
    parts.stage.addEventListener('pointercancel', () => {
      this.dragging = false;
      this.touch = undefined;
    });
    this.setSplit(Number(parts.split.value));
  }

  /** Shows a pair of images (object URLs); the stage takes the restored image's size. */
  async show(beforeUrl: string | undefined, afterUrl: string): Promise<{ beforeDecoded: boolean }> {
    const { before, after } = this.parts;
    after.src = afterUrl;
    await after.decode();
    let beforeDecoded = false;
    if (beforeUrl) {
      before.src = beforeUrl;
      beforeDecoded = await before.decode().then(
        () => true,
        () => false,
      );
    }
    before.hidden = !beforeDecoded;
    this.layout();
    return { beforeDecoded };
  }

  /** Shows no left image (the input of a job picked up after a reload cannot be shown). */
  clearBefore(): false {
    this.parts.before.removeAttribute('src');
    this.parts.before.hidden = true;
    return false;
  }

  /** Replaces the left image (input or DR2 intermediate). */
  async setBefore(url: string): Promise<boolean> {
    this.parts.before.src = url;
    const decoded = await this.parts.before.decode().then(
      () => true,
      () => false,
    );
    this.parts.before.hidden = !decoded;
    return decoded;
  }

  /**
   * Draws face boxes given in input pixels of an input `inputWidth` x `inputHeight`: the faces
   * restored (solid), those `auto` kept as they were (`settings.kept`: dotted; they looked
   * restored like the others) and those found but left untouched (`skipped`: dashed, with the
   * reason), and a legend of the kinds drawn.
   */
  setFaces(
    faces: FaceBox[],
    inputWidth: number,
    inputHeight: number,
    skipped: readonly SkippedFaceBox[] = [],
  ): void {
    this.parts.faces.replaceChildren();
    this.parts.faceLegend.replaceChildren();
    this.showFaceBoxes();
    if (!(inputWidth > 0 && inputHeight > 0)) return;
    const place = (box: HTMLElement, [x, y, width, height]: FaceBox['box']) => {
      box.style.setProperty('left', `${(x / inputWidth) * 100}%`);
      box.style.setProperty('top', `${(y / inputHeight) * 100}%`);
      box.style.setProperty('width', `${(width / inputWidth) * 100}%`);
      box.style.setProperty('height', `${(height / inputHeight) * 100}%`);
      this.parts.faces.append(box);
    };
    const drawn = new Set<string>();
    for (const [index, face] of faces.entries()) {
      const kind = face.settings?.kept ? 'kept' : 'restored';
      const title =
        kind === 'kept'
          ? `face ${index + 1}: kept as is (auto found the model would not improve it)`
          : `face ${index + 1}: restored`;
      place(el('div', { className: `face-box ${kind}`, title }), face.box);
      drawn.add(kind);
    }
    for (const face of skipped) {
      const why = SKIP_REASON_TEXT[face.reason] ?? face.reason;
      place(el('div', { className: 'face-box skipped', title: `face left untouched: ${why}` }), face.box);
      drawn.add('skipped');
    }
    this.parts.faceLegend.replaceChildren(
      ...FACE_KINDS.filter(([kind]) => drawn.has(kind)).map(([kind, text]) =>
        el('span', { className: 'face-key' }, [el('span', { className: `face-swatch ${kind}` }), text]),
      ),
    );
    this.showFaceBoxes();
  }

  /** Face boxes and their legend, as the "Face boxes" checkbox says. */
  private showFaceBoxes(): void {
    const { faces, faceLegend, showFaces } = this.parts;
    faces.hidden = !showFaces.checked;
    faceLegend.hidden = !showFaces.checked || faceLegend.childElementCount === 0;
  }

  /** Split position in percent of the width (0: all restored, 100: all left image). */
  setSplit(percent: number): void {
    const clamped = Math.min(100, Math.max(0, percent));
    this.parts.split.value = String(Math.round(clamped));
    this.parts.after.style.setProperty('clip-path', `inset(0 0 0 ${clamped}%)`);
    // The left image is cut at the split too: under a (semi-)transparent restored image it
    // would otherwise show through on the restored side.
    this.parts.before.style.setProperty('clip-path', `inset(0 ${100 - clamped}% 0 0)`);
    this.parts.divider.style.setProperty('left', `${clamped}%`);
    this.parts.stage.dataset.split = clamped.toFixed(1);
  }

  /**
   * What the user sees of the scrolling box, in client coordinates: its inner area cut to the
   * window (on a phone the box can be partly scrolled off the screen); the whole inner area
   * when none of it is on screen.
   */
  private seenArea(): { x: number; y: number } {
    const { viewport } = this.parts;
    const rect = viewport.getBoundingClientRect();
    const left = rect.left + viewport.clientLeft;
    const top = rect.top + viewport.clientTop;
    const right = left + viewport.clientWidth;
    const bottom = top + viewport.clientHeight;
    const seenLeft = Math.max(left, 0);
    const seenTop = Math.max(top, 0);
    const seenRight = Math.min(right, window.innerWidth);
    const seenBottom = Math.min(bottom, window.innerHeight);
    const onScreen = seenRight > seenLeft && seenBottom > seenTop;
    return onScreen
      ? { x: (seenLeft + seenRight) / 2, y: (seenTop + seenBottom) / 2 }
      : { x: (left + right) / 2, y: (top + bottom) / 2 };
  }

  /** The point of the picture at the centre of what the user sees, in fractions of its size. */
  private pictureAtViewCentre(): { x: number; y: number } | undefined {
    const stage = this.parts.stage.getBoundingClientRect();
    if (!(stage.width > 0 && stage.height > 0)) return undefined;
    const centre = this.seenArea();
    const fraction = (value: number) => Math.min(1, Math.max(0, value));
    return {
      x: fraction((centre.x - stage.left) / stage.width),
      y: fraction((centre.y - stage.top) / stage.height),
    };
  }

  /** Scrolls the box so that `point` (fractions of the picture) is at the centre of what is seen. */
  private centreOn(point: { x: number; y: number }): void {
    const { viewport, stage } = this.parts;
    const rect = stage.getBoundingClientRect();
    const centre = this.seenArea();
    // The browser clamps to the scrollable range (near an edge the point cannot be centred).
    viewport.scrollLeft += rect.left + point.x * rect.width - centre.x;
    viewport.scrollTop += rect.top + point.y * rect.height - centre.y;
  }

  private layout(): void {
    const { stage, after, viewport } = this.parts;
    const width = after.naturalWidth;
    const height = after.naturalHeight;
    if (!(width > 0 && height > 0)) return;
    stage.style.setProperty('aspect-ratio', `${width} / ${height}`);
    if (this.zoom === 'fit') {
      // The whole image in view: the column's width, or less for a tall photo.
      stage.style.setProperty('width', `min(100%, calc(75vh * ${width / height}))`);
      stage.style.removeProperty('max-width');
      viewport.classList.remove('zoomed');
    } else {
      stage.style.setProperty('width', `${width * this.zoom}px`);
      stage.style.setProperty('max-width', 'none');
      viewport.classList.add('zoomed');
    }
    stage.classList.toggle('pixelated', this.zoom !== 'fit' && this.zoom >= 2);
  }
}
