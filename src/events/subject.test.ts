import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { UnhandledReport } from '../diagnostics.ts';
import { InvalidArgumentError } from '../errors.ts';
import { type Observer, Subject } from './subject.ts';

const recorder = (log: string[], name: string): Observer<string> => ({
  update: (message) => {
    log.push(`${name}:${message}`);
  },
});

/** Fails the test if a rejection goes unhandled while it runs. */
function watchUnhandled(): () => unknown[] {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', listener);
  return () => {
    process.off('unhandledRejection', listener);
    return seen;
  };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Subject options', () => {
  it('refuses an unknown option, naming it and the known ones', () => {
    expect(() => new Subject({ onerror: () => {} } as never)).toThrow(
      'Subject options: unknown option "onerror"; known options: onError',
    );
  });
});

describe('Subject: the classic demo', () => {
  it('notifies an attached observer with the message', async () => {
    const log: string[] = [];
    const subject = new Subject<string>();
    subject.attach(recorder(log, 'a'));
    await subject.notify('Hello, world!');
    expect(log).toEqual(['a:Hello, world!']);
  });

  it('attaching twice has no effect', async () => {
    const log: string[] = [];
    const subject = new Subject<string>();
    const a = recorder(log, 'a');
    subject.attach(a);
    subject.attach(a);
    expect(subject.size).toBe(1);
    await subject.notify('x');
    expect(log).toEqual(['a:x']);
  });

  it('detaching an unknown observer is not an error', () => {
    const subject = new Subject<string>();
    expect(() => subject.detach(recorder([], 'never'))).not.toThrow();
    expect(subject.size).toBe(0);
  });

  it('calls observers in attach order, synchronously within notify', () => {
    const log: string[] = [];
    const subject = new Subject<string>();
    for (const name of ['a', 'b', 'c']) subject.attach(recorder(log, name));
    void subject.notify('m');
    expect(log).toEqual(['a:m', 'b:m', 'c:m']);
  });

  it('stops notifying a detached observer; the handle from attach detaches too, also via using', async () => {
    const log: string[] = [];
    const subject = new Subject<string>();
    const a = recorder(log, 'a');
    const b = recorder(log, 'b');
    subject.attach(a);
    const detachB = subject.attach(b);
    subject.detach(a);
    await subject.notify('1');
    detachB();
    detachB();
    await subject.notify('2');
    {
      using _ = subject.attach(a);
      await subject.notify('3');
    }
    await subject.notify('4');
    expect(log).toEqual(['b:1', 'a:3']);
  });

  it('the handle of an attach that had no effect detaches nothing; each handle ends only its own attachment', async () => {
    const log: string[] = [];
    const subject = new Subject<string>();
    const a = recorder(log, 'a');
    const first = subject.attach(a);
    {
      using _again = subject.attach(a);
    }
    await subject.notify('1');
    first();
    const later = subject.attach(a);
    first();
    await subject.notify('2');
    later();
    await subject.notify('3');
    expect(log).toEqual(['a:1', 'a:2']);
    expect(subject.size).toBe(0);
  });

  it('rejects an observer without an update method, naming what came', () => {
    const subject = new Subject<string>();
    expect(() => subject.attach({} as Observer<string>)).toThrow(InvalidArgumentError);
    expect(() => subject.attach(null as unknown as Observer<string>)).toThrow(/update\(message\).*null/);
  });

  it('rejects an onError that is not a function', () => {
    expect(() => new Subject({ onError: 'log' as never })).toThrow(
      /onError must be a function; received "log"/,
    );
  });
});

describe('Subject: changes during notify', () => {
  it('an observer detaching itself neither skips nor double-calls anyone in that round', async () => {
    const log: string[] = [];
    const subject = new Subject<string>();
    const self: Observer<string> = {
      update: (m) => {
        log.push(`self:${m}`);
        subject.detach(self);
      },
    };
    subject.attach(recorder(log, 'a'));
    subject.attach(self);
    subject.attach(recorder(log, 'c'));
    await subject.notify('1');
    await subject.notify('2');
    expect(log).toEqual(['a:1', 'self:1', 'c:1', 'a:2', 'c:2']);
  });

  it('an observer detaching a later one: the later one still gets this round, not the next', async () => {
    const log: string[] = [];
    const subject = new Subject<string>();
    const c = recorder(log, 'c');
    subject.attach({ update: () => subject.detach(c) });
    subject.attach(c);
    await subject.notify('1');
    await subject.notify('2');
    expect(log).toEqual(['c:1']);
  });

  it('an observer attached during a round is called from the next round on', async () => {
    const log: string[] = [];
    const subject = new Subject<string>();
    const late = recorder(log, 'late');
    subject.attach({
      update: (m) => {
        log.push(`first:${m}`);
        subject.attach(late);
      },
    });
    await subject.notify('1');
    await subject.notify('2');
    expect(log).toEqual(['first:1', 'first:2', 'late:2']);
  });
});

describe('Subject: failures', () => {
  let stopWatching: (() => unknown[]) | undefined;
  afterEach(() => {
    stopWatching?.();
  });

  it('a throwing observer does not stop the others; notify rejects with an AggregateError', async () => {
    const log: string[] = [];
    const boom = new Error('boom');
    const subject = new Subject<string>();
    subject.attach(recorder(log, 'a'));
    subject.attach({
      update: () => {
        throw boom;
      },
    });
    subject.attach(recorder(log, 'c'));
    const outcome = subject.notify('m');
    expect(log).toEqual(['a:m', 'c:m']);
    const error = await outcome.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors).toEqual([boom]);
  });

  it('a rejected update does not stop the others and lands in the same AggregateError, in attach order', async () => {
    stopWatching = watchUnhandled();
    const first = new Error('async first');
    const second = new Error('sync second');
    const subject = new Subject<string>();
    let slowDone = false;
    subject.attach({ update: () => new Promise((_, reject) => setTimeout(() => reject(first), 5)) });
    subject.attach({
      update: () => {
        throw second;
      },
    });
    subject.attach({
      update: async () => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        slowDone = true;
      },
    });
    const error = (await subject.notify('m').catch((e: unknown) => e)) as AggregateError;
    expect(slowDone).toBe(true);
    expect(error.errors).toEqual([first, second]);
    expect(error.message).toBe('2 of 3 observers failed');
    await nextTurn();
    expect(stopWatching()).toEqual([]);
  });

  it('with onError, each failure goes to it with its observer and notify resolves', async () => {
    const seen: [unknown, Observer<string>][] = [];
    const subject = new Subject<string>({ onError: (error, observer) => seen.push([error, observer]) });
    const syncFail: Observer<string> = {
      update: () => {
        throw new Error('sync');
      },
    };
    const asyncFail: Observer<string> = { update: async () => Promise.reject(new Error('async')) };
    const fine = recorder([], 'fine');
    subject.attach(asyncFail);
    subject.attach(syncFail);
    subject.attach(fine);
    const outcome = subject.notify('m');
    // The synchronous failure is reported at once, the asynchronous one when it settles.
    expect(seen.map(([e]) => (e as Error).message)).toEqual(['sync']);
    await expect(outcome).resolves.toBeUndefined();
    expect(seen).toEqual([
      [new Error('sync'), syncFail],
      [new Error('async'), asyncFail],
    ]);
  });

  it('an onError that throws stops nobody and is written to stderr', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const log: string[] = [];
    const subject = new Subject<string>({
      onError: () => {
        throw new Error('handler broke');
      },
    });
    subject.attach({
      update: () => {
        throw new Error('observer broke');
      },
    });
    subject.attach(recorder(log, 'b'));
    await expect(subject.notify('m')).resolves.toBeUndefined();
    expect(log).toEqual(['b:m']);
    expect(String(write.mock.calls[0]?.[0])).toMatch(/onError threw/);
  });

  it('failures nobody awaits are written to stderr, never an unhandled rejection', async () => {
    stopWatching = watchUnhandled();
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const subject = new Subject<string>();
    subject.attach({
      update: () => {
        throw new Error('nobody listens');
      },
    });
    void subject.notify('m');
    await nextTurn();
    await nextTurn();
    expect(stopWatching()).toEqual([]);
    expect(write).toHaveBeenCalledTimes(1);
    expect(String(write.mock.calls[0]?.[0])).toMatch(/nobody listens/);
  });

  it('failures nobody awaits and a throwing onError reach keel:events.unhandled', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const reports: UnhandledReport[] = [];
    const onReport = (message: unknown): void => {
      reports.push(message as UnhandledReport);
    };
    subscribe('keel:events.unhandled', onReport);
    try {
      const unread = new Subject<string>();
      unread.attach({
        update: () => {
          throw new Error('nobody listens');
        },
      });
      void unread.notify('m');
      const handled = new Subject<string>({
        onError: () => {
          throw new Error('handler broke');
        },
      });
      handled.attach({
        update: () => {
          throw new Error('observer broke');
        },
      });
      await handled.notify('m');
      await nextTurn();
      await nextTurn();
    } finally {
      unsubscribe('keel:events.unhandled', onReport);
    }
    expect(reports.map(({ module, context }) => [module, context])).toEqual([
      ['events', 'Subject onError threw'],
      ['events', 'Subject.notify() failures nobody awaited'],
    ]);
    expect(((reports[1] as UnhandledReport).error as AggregateError).errors).toEqual([
      new Error('nobody listens'),
    ]);
  });

  it('a failure that is awaited is not also written to stderr', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const subject = new Subject<string>();
    subject.attach({
      update: () => {
        throw new Error('handled');
      },
    });
    await expect(subject.notify('m')).rejects.toBeInstanceOf(AggregateError);
    await nextTurn();
    expect(write).not.toHaveBeenCalled();
  });

  it('resolves at once when every observer is synchronous and succeeds', async () => {
    const subject = new Subject<number>();
    subject.attach({ update: () => {} });
    await expect(subject.notify(1)).resolves.toBeUndefined();
  });

  it('waits for asynchronous updates before resolving', async () => {
    const subject = new Subject<number>();
    let done = 0;
    subject.attach({
      update: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        done++;
      },
    });
    await subject.notify(1);
    expect(done).toBe(1);
  });
});
