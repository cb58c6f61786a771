/**
 * File helpers for the local adapters: atomic writes (temp file + rename, so a crash never
 * leaves a half-written record), tolerant reads, and a lock that serialises read-modify-write
 * sequences within a process and across processes sharing the directory (API and worker
 * started separately by `npm start`).
 */
import type { Stats } from 'node:fs';
import {
  copyFile,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { toHex, randomBytes } from '../../src/encoding.js';
import { sleep } from '../../src/sleep.js';

/** Suffix of temp files; `~` cannot occur in blob keys or record names, so no collisions. */
const TEMP_MARK = '~tmp-';

/** Writes a file so readers see either the old or the new content, never a mix. */
export async function atomicWriteFile(filePath: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(filePath), { recursive: true });
  const temp = `${filePath}${TEMP_MARK}${toHex(randomBytes(6))}`;
  try {
    await writeFile(temp, data);
    await rename(temp, filePath);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** True for names of temp files left by {@link atomicWriteFile} (to skip in listings). */
export function isTempFileName(name: string): boolean {
  return name.includes(TEMP_MARK);
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** File bytes, or undefined when the file does not exist. */
export async function readFileIfExists(filePath: string): Promise<Buffer | undefined> {
  try {
    return await readFile(filePath);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** The first `maxBytes` bytes of a file and its full size, or undefined when it does not exist. */
export async function readFileStart(
  filePath: string,
  maxBytes: number,
): Promise<{ body: Uint8Array; size: number } | undefined> {
  let handle;
  try {
    handle = await open(filePath, 'r');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const body = new Uint8Array(Math.max(0, Math.min(size, maxBytes)));
    let filled = 0;
    while (filled < body.length) {
      const { bytesRead } = await handle.read(body, filled, body.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return { body: body.subarray(0, filled), size };
  } finally {
    await handle.close();
  }
}

/** Copies a file so readers of `to` see the old or the new content; false when `from` is missing. */
export async function copyFileAtomic(from: string, to: string): Promise<boolean> {
  await mkdir(path.dirname(to), { recursive: true });
  const temp = `${to}${TEMP_MARK}${toHex(randomBytes(6))}`;
  try {
    await copyFile(from, temp);
    await rename(temp, to);
    return true;
  } catch (error) {
    await rm(temp, { force: true });
    if (isMissing(error)) return false;
    throw error;
  }
}

/** Parsed JSON of a file, or undefined when the file does not exist. */
export async function readJsonIfExists(filePath: string): Promise<unknown> {
  const bytes = await readFileIfExists(filePath);
  return bytes === undefined ? undefined : (JSON.parse(bytes.toString('utf8')) as unknown);
}

/** Deletes a file; a missing file is fine. */
export async function unlinkIfExists(filePath: string): Promise<void> {
  try {
    await unlink(filePath);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
}

/** Directory entries (files only, no temp files), sorted; empty when the directory is missing. */
export async function listFiles(directory: string): Promise<string[]> {
  try {
    const entries = await readdir(directory, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile() && !isTempFileName(entry.name))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

/** File metadata, or undefined when missing. */
export async function statIfExists(filePath: string): Promise<Stats | undefined> {
  try {
    return await stat(filePath);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/**
 * A name safe as one path segment (and S3 key segment) for any string: percent-encoding plus
 * encoded dots, so `..` and `/` cannot appear.
 */
export function encodePathSegment(value: string): string {
  return encodeURIComponent(value).replace(/\./g, '%2E').replace(/\*/g, '%2A');
}

/**
 * In-process state of each lock path (shared by every instance in the process): the queue of
 * holders, how many wait, and whether this process holds the directory lock right now.
 */
interface LockState {
  tail: Promise<void>;
  waiting: number;
  held: boolean;
  heldSince: number;
}
const lockStates = new Map<string, LockState>();

/**
 * How long the directory lock is passed from one in-process holder to the next without being
 * released: under load a burst of operations pays for one mkdir/rm instead of one each, and
 * other processes still get their turn within this time.
 */
const HANDOFF_MS = 50;

export interface LockOptions {
  /** A lock directory older than this is taken over (its holder died). Default 30 s. */
  staleAfterMs?: number;
}

/**
 * Runs `action` while holding the lock at `lockPath`: first in-process (a promise chain per
 * path), then across processes (`mkdir` is atomic: whoever creates the directory holds it).
 * Keep `action` short: other processes poll every few milliseconds while waiting. When more
 * holders of this process wait, the directory lock passes straight to the next one (for at
 * most {@link HANDOFF_MS}), which removes the lock's own file-system cost under contention.
 */
export async function withLock<T>(
  lockPath: string,
  action: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  let state = lockStates.get(lockPath);
  if (!state) {
    state = { tail: Promise.resolve(), waiting: 0, held: false, heldSince: 0 };
    lockStates.set(lockPath, state);
  }
  const previous = state.tail;
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => mine);
  state.tail = chained;
  state.waiting += 1;
  await previous;
  state.waiting -= 1;
  try {
    if (!state.held) {
      await acquireDirectoryLock(lockPath, options.staleAfterMs ?? 30_000);
      state.held = true;
      state.heldSince = Date.now();
    }
    return await action();
  } finally {
    try {
      if (state.waiting === 0 || Date.now() - state.heldSince > HANDOFF_MS) {
        state.held = false;
        await rm(lockPath, { recursive: true, force: true });
      }
    } finally {
      release();
      if (state.tail === chained && state.waiting === 0 && !state.held) lockStates.delete(lockPath);
    }
  }
}

/** Who holds a lock: written into the lock directory right after it is created. */
const OWNER_FILE = 'owner';
const ownerId = `${hostname()}:${process.pid}`;

/** True when `owner` names a process on this machine that no longer exists. */
function ownerIsDead(owner: string | undefined): boolean {
  if (!owner) return false;
  const separator = owner.lastIndexOf(':');
  const host = owner.slice(0, separator);
  const pid = Number(owner.slice(separator + 1));
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function readOwner(lockPath: string): Promise<string | undefined> {
  return (await readFileIfExists(path.join(lockPath, OWNER_FILE)))?.toString('utf8');
}

async function acquireDirectoryLock(lockPath: string, staleAfterMs: number): Promise<void> {
  await mkdir(path.dirname(lockPath), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(lockPath);
      await writeFile(path.join(lockPath, OWNER_FILE), ownerId);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    // A holder killed mid-action (SIGKILL, crash) leaves its directory behind: break it at once
    // when its process is gone, and after `staleAfterMs` otherwise (another machine sharing the
    // folder, or an owner file that was never written).
    const owner = await readOwner(lockPath);
    const info = await statIfExists(lockPath);
    const stale = info !== undefined && Date.now() - info.mtimeMs > staleAfterMs;
    if (ownerIsDead(owner) || stale) {
      // Re-check right before breaking so a lock that changed hands meanwhile is left alone.
      if ((await readOwner(lockPath)) === owner) await rm(lockPath, { recursive: true, force: true });
      continue;
    }
    await sleep(Math.min(2 + attempt, 25));
  }
}

/** Markers this process holds now (see {@link tryClaimMarker}). */
const heldMarkers = new Set<string>();

export interface MarkerOptions {
  /**
   * A marker older than this is taken over even though its owner may live (another machine
   * sharing the folder, where liveness cannot be checked). Default 1 h.
   */
  staleAfterMs?: number;
}

/**
 * Takes the marker file at `markerPath` if nobody holds it, without waiting: `undefined` when
 * another holder (this process or another) has it, else a function that gives it back.
 *
 * Unlike {@link withLock}, which queues callers for a short critical section, this answers at
 * once, for claims held as long as a slow client takes (an upload streaming for minutes) where
 * the loser must be told "no" rather than made to wait. A free marker is created exclusively
 * (`O_EXCL`), so of two processes racing exactly one wins; within this process a set decides
 * before any await, so two requests of one event loop cannot both pass.
 *
 * A marker left by a process that died (or by an earlier process that had this process's pid,
 * as pid 1 in a container) is taken over, as is one older than `staleAfterMs`. Taking over is
 * a read, a remove and a create, so it runs under a short lock beside the marker: of several
 * processes finding the same dead holder, one takes it. Each claim writes its own token, and
 * giving it back removes the marker only while it still holds that token: a claim taken over
 * meanwhile (judged stale) is its new holder's.
 */
export async function tryClaimMarker(
  markerPath: string,
  options: MarkerOptions = {},
): Promise<(() => Promise<void>) | undefined> {
  if (heldMarkers.has(markerPath)) return undefined;
  heldMarkers.add(markerPath);
  const claim = `${ownerId}\n${toHex(randomBytes(8))}`;
  const lockPath = `${markerPath}.lock`;
  const release = async (): Promise<void> => {
    try {
      await withLock(lockPath, async () => {
        if ((await readFileIfExists(markerPath))?.toString('utf8') === claim)
          await rm(markerPath, { force: true });
      });
    } finally {
      heldMarkers.delete(markerPath);
    }
  };
  try {
    await mkdir(path.dirname(markerPath), { recursive: true });
    if (await createExclusively(markerPath, claim)) return release;
    const taken = await withLock(lockPath, async () => {
      const current = (await readFileIfExists(markerPath))?.toString('utf8');
      // Given back since the first try.
      if (current === undefined) return createExclusively(markerPath, claim);
      const info = await statIfExists(markerPath);
      const owner = current.split('\n')[0];
      const stale = info !== undefined && Date.now() - info.mtimeMs > (options.staleAfterMs ?? 3_600_000);
      // This process's own id on a marker it does not hold: left by an earlier process.
      if (!(owner === ownerId || ownerIsDead(owner) || stale)) return false;
      await rm(markerPath, { force: true });
      return createExclusively(markerPath, claim);
    });
    if (taken) return release;
  } catch (error) {
    heldMarkers.delete(markerPath);
    throw error;
  }
  heldMarkers.delete(markerPath);
  return undefined;
}

/** Creates `file` holding `content` unless it exists (false then). */
async function createExclusively(file: string, content: string): Promise<boolean> {
  try {
    await writeFile(file, content, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    // Not EEXIST: either nothing was created or ours was (and writing failed): remove it.
    await rm(file, { force: true }).catch(() => undefined);
    throw error;
  }
}
