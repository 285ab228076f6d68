/**
 * A sampling heap profiler preloaded into a process with `node --import dist/bench/heap-sampler.js`: over the
 * IPC channel the parent sends `{ heap: 'start', intervalBytes }` and `{ heap: 'stop', file }`; the profile
 * (V8's SamplingHeapProfile, objects collected by minor and major GCs included, so it counts everything
 * allocated in the window, not only what survived) is written to `file`, and each step is acknowledged with
 * `{ heap: 'started' | 'stopped' | 'error', message? }`. Used by bench/alloc.ts; without an IPC channel it does
 * nothing.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

interface HeapMessage {
  heap?: string;
  intervalBytes?: number;
  file?: string;
}

function post(session: Session, method: string, params: object = {}): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    session.post(method, params, (err, res) => (err ? reject(err) : resolvePromise(res)));
  });
}

if (process.send !== undefined) {
  const session = new Session();
  session.connect();
  const reply = (m: object) => process.send?.(m);
  process.on('message', (m: HeapMessage) => {
    if (m?.heap === 'start') {
      // Collected objects are kept in the profile: per-I/O garbage is what this measures.
      post(session, 'HeapProfiler.startSampling', {
        samplingInterval: m.intervalBytes ?? 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      }).then(
        () => reply({ heap: 'started' }),
        (err: Error) => reply({ heap: 'error', message: err.message }),
      );
    } else if (m?.heap === 'stop' && m.file !== undefined) {
      const file = m.file;
      post(session, 'HeapProfiler.stopSampling').then(
        (res) => {
          writeFileSync(file, JSON.stringify((res as { profile: unknown }).profile), { mode: 0o600 });
          reply({ heap: 'stopped' });
        },
        (err: Error) => reply({ heap: 'error', message: err.message }),
      );
    }
  });
  // The channel must not keep the process alive: it ends on its own terms (SIGTERM for serve).
  process.channel?.unref();
}
