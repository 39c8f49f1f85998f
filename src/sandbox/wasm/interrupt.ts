// Interrupts a guest that spins without ever calling the host, without destroying its worker.
//
// Worker.terminate() would end it too, but it tears the thread down mid-run, and node:wasi never
// closes the host descriptors of an instance (its preopened directories, the files the guest opened):
// every forced kill would leak them for the life of the agent. Instead we ask V8, through the
// in-process inspector, to terminate the worker's current JavaScript execution
// (Runtime.terminateExecution): the guest unwinds, the worker's event loop survives, and it can close
// the run's descriptors when it then receives a 'reap' message. If the inspector is unavailable, or
// the worker does not answer, the driver falls back to Worker.terminate().

import { Session } from 'node:inspector';

export class WorkerInterrupter {
  private session: Session | undefined;
  private unavailable = false;
  /**
   * Worker name -> inspector session id. Workers are told apart by their (unique) names: the
   * inspector's workerId is its own attach counter, not the thread id.
   */
  private readonly targets = new Map<string, string>();
  private nextId = 1;

  /**
   * Starts watching worker threads. Called when the first sandbox starts, so that the attachment
   * (which is asynchronous) is in place long before any forced stop needs it.
   */
  enable(): void {
    if (this.session || this.unavailable) return;
    try {
      const s = new Session();
      s.connect();
      s.on('NodeWorker.attachedToWorker', (m) => {
        // Titles read "[worker <threadId>] <name>".
        const title = m.params.workerInfo.title;
        this.targets.set(title.replace(/^\[worker \d+\] /, ''), m.params.sessionId);
      });
      s.on('NodeWorker.detachedFromWorker', (m) => {
        for (const [name, id] of this.targets) if (id === m.params.sessionId) this.targets.delete(name);
      });
      s.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
      this.session = s;
    } catch {
      // Node built without the inspector: forced stops will use Worker.terminate().
      this.unavailable = true;
    }
  }

  /** Asks V8 to abort whatever the named worker is executing. False when it cannot be reached. */
  interrupt(workerName: string): boolean {
    const sessionId = this.targets.get(workerName);
    if (!this.session || sessionId === undefined) return false;
    const message = JSON.stringify({ id: this.nextId++, method: 'Runtime.terminateExecution' });
    try {
      this.session.post('NodeWorker.sendMessageToWorker', { sessionId, message });
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    this.session?.disconnect();
    this.session = undefined;
    this.targets.clear();
  }
}
