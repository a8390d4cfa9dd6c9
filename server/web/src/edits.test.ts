import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { ApiError, type WriteRequest, type WriteResult } from "./api";
import { EditQueue, type QueueEvents, type SavedCell } from "./edits";

const A = ["Budget", "Rent", "2027-01"];
const B = ["Budget", "Rent", "2027-02"];
const C = ["Budget", "Rent", "2027-03"];

function ok(id: number): WriteResult {
  return {
    commit: { id, author: "ann", time: "t", message: "", source: "web" },
    head: id,
    changed: 1,
  };
}

function conflict(elements: string[], commit: number, value = 900): ApiError {
  return new ApiError(409, "write_conflict", "changed", {
    cells: [{ cube: "PnL", elements, value, commit, author: "bob", time: "t" }],
  });
}

class Recorder implements QueueEvents {
  changes: string[][] = [];
  saves: SavedCell[][] = [];
  problems: string[] = [];
  changed(keys: string[]) {
    this.changes.push(keys);
  }
  saved(cells: SavedCell[]) {
    this.saves.push(cells);
  }
  problem(message: string) {
    this.problems.push(message);
  }
}

let sent: WriteRequest[];
let answers: (WriteResult | Error)[];
let events: Recorder;
let queue: EditQueue;

async function send(batch: WriteRequest): Promise<WriteResult> {
  sent.push(batch);
  const answer = answers.shift() ?? ok(sent.length + 10);
  if (answer instanceof Error) throw answer;
  return answer;
}

beforeEach(() => {
  vi.useFakeTimers();
  sent = [];
  answers = [];
  events = new Recorder();
  queue = new EditQueue(send, events, 300, 5000);
});

afterEach(() => {
  vi.useRealTimers();
});

describe("batching", () => {
  test("edits within the window go out as one write with their base commit", async () => {
    queue.add([{ elements: A, value: 1, base: 5 }]);
    await vi.advanceTimersByTimeAsync(100);
    queue.add([{ elements: B, value: 2, base: 5 }]);
    expect(sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(300);
    expect(sent).toEqual([
      {
        base_commit: 5,
        source: "web",
        message: "",
        cells: [
          { elements: A, value: 1 },
          { elements: B, value: 2 },
        ],
      },
    ]);
    expect(queue.pending.size).toBe(0);
    expect(events.saves[0].map((c) => c.value)).toEqual([1, 2]);
  });

  test("a paste goes out at once", async () => {
    queue.add([{ elements: A, value: 1, base: 5 }], true);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(1);
  });

  test("the last value typed into a cell wins", async () => {
    queue.add([{ elements: A, value: 1, base: 5 }]);
    queue.add([{ elements: A, value: 2, base: 5 }]);
    await vi.advanceTimersByTimeAsync(300);
    expect(sent[0].cells).toEqual([{ elements: A, value: 2 }]);
  });

  test("edits made on different commits go in separate writes, oldest first", async () => {
    queue.add([{ elements: A, value: 1, base: 7 }]);
    queue.add([{ elements: B, value: 2, base: 5 }]);
    await vi.advanceTimersByTimeAsync(310);
    expect(sent.map((w) => [w.base_commit, w.cells.length])).toEqual([
      [5, 1],
      [7, 1],
    ]);
  });

  test("a cell edited while its write is in flight is sent again with the new value", async () => {
    let release: (r: WriteResult) => void = () => {};
    const slow = new EditQueue(
      (batch) => {
        sent.push(batch);
        return sent.length === 1 ? new Promise((r) => (release = r)) : Promise.resolve(ok(20));
      },
      events,
    );
    slow.add([{ elements: A, value: 1, base: 5 }], true);
    await vi.advanceTimersByTimeAsync(0);
    slow.add([{ elements: A, value: 2, base: 5 }]);
    release(ok(11));
    await vi.advanceTimersByTimeAsync(300);
    expect(sent.map((w) => w.cells[0].value)).toEqual([1, 2]);
    expect(slow.pending.size).toBe(0);
  });
});

describe("conflicts", () => {
  test("a conflicting cell keeps the planner's value; the rest is sent again", async () => {
    answers = [conflict(B, 8)];
    queue.add([
      { elements: A, value: 1, base: 5 },
      { elements: B, value: 2, base: 5 },
    ]);
    await vi.advanceTimersByTimeAsync(310);
    expect(sent.map((w) => w.cells.map((c) => c.value))).toEqual([[1, 2], [1]]);
    const mine = queue.pending.get(B.join("\t"));
    expect(mine?.state).toBe("conflict");
    expect(mine?.value).toBe(2);
    expect(mine?.conflict?.author).toBe("bob");
    expect(events.problems[0]).toContain("changed by bob");
  });

  test("overwrite sends the planner's value on the conflicting commit", async () => {
    answers = [conflict(A, 8)];
    queue.add([{ elements: A, value: 1, base: 5 }], true);
    await vi.advanceTimersByTimeAsync(0);
    queue.overwrite(A.join("\t"));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent.map((w) => w.base_commit)).toEqual([5, 8]);
    expect(queue.pending.size).toBe(0);
  });

  test("take theirs forgets the planner's value and sends nothing", async () => {
    answers = [conflict(A, 8)];
    queue.add([{ elements: A, value: 1, base: 5 }], true);
    await vi.advanceTimersByTimeAsync(0);
    queue.takeTheirs(A.join("\t"));
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toHaveLength(1);
    expect(queue.pending.size).toBe(0);
  });

  test("typing over a conflict counts as having seen the other value", async () => {
    answers = [conflict(A, 8)];
    queue.add([{ elements: A, value: 1, base: 5 }], true);
    await vi.advanceTimersByTimeAsync(0);
    queue.add([{ elements: A, value: 3, base: 5 }], true);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent[1]).toMatchObject({ base_commit: 8, cells: [{ elements: A, value: 3 }] });
  });
});

describe("failures", () => {
  test("a network failure keeps everything pending and retries", async () => {
    answers = [new ApiError(0, "network", "the server did not answer")];
    queue.add([{ elements: A, value: 1, base: 5 }], true);
    await vi.advanceTimersByTimeAsync(0);
    expect(queue.pending.get(A.join("\t"))?.state).toBe("dirty");
    expect(events.problems[0]).toContain("Retrying in 5 s");
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(2);
    expect(queue.pending.size).toBe(0);
  });

  test("a cell the server refuses is given up with its message, the others are sent", async () => {
    answers = [new ApiError(422, "cell_not_writable", "cell 1: C is consolidated", { cell: 1 })];
    queue.add(
      [
        { elements: A, value: 1, base: 5 },
        { elements: C, value: 3, base: 5 },
      ],
      true,
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(events.problems).toEqual(["Not saved: cell 1: C is consolidated"]);
    expect(sent.map((w) => w.cells.length)).toEqual([2, 1]);
    expect(sent[1].cells[0].elements).toEqual(A);
    expect(queue.pending.size).toBe(0);
  });

  test("a session that ended keeps every edit pending until signed in again", async () => {
    answers = [new ApiError(401, "sign_in_required", "your session has ended")];
    queue.add([{ elements: A, value: 1, base: 5 }], true);
    await vi.advanceTimersByTimeAsync(0);
    expect(events.problems).toEqual(["Not saved yet: sign in again; your 1 edit is kept and sent then."]);
    queue.add([{ elements: B, value: 2, base: 5 }]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toHaveLength(1); // nothing is sent meanwhile, not even on a timer
    expect(queue.dirtyCount).toBe(2);
    queue.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(2);
    expect(sent[1].cells.map((c) => c.value)).toEqual([1, 2]);
    expect(queue.pending.size).toBe(0);
  });

  test("cells read-only for the planner (403) are given up, saying so", async () => {
    const message = "1 cell(s) are not yours to change, e.g. ['Budget', 'Rent', '2027-01']; nothing was written";
    answers = [new ApiError(403, "write_forbidden", message, { cells: [A] })];
    queue.add([{ elements: A, value: 1, base: 5 }], true);
    await vi.advanceTimersByTimeAsync(0);
    expect(events.problems).toEqual([`Not saved (read-only for you): ${message}`]);
    expect(queue.pending.size).toBe(0);
  });
});
