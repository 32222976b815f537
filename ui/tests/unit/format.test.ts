import { describe, expect, it } from "vitest";
import type { PreviewRecord } from "../../src/api";
import { errorText, folderEventText, groupFingerprint, nextQueueStatus, outgoingJson, retryReasonText, syncText } from "../../src/format";
import { setLanguage } from "../../src/i18n";

describe("fingerprints", () => {
  it("are grouped four pairs at a time, whatever the input's separators", () => {
    const fp = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, "0")).join(":");
    const groups = groupFingerprint(fp);
    expect(groups).toHaveLength(8);
    expect(groups[0]).toBe("00:01:02:03");
    expect(groups[7]).toBe("1C:1D:1E:1F");
    expect(groupFingerprint(fp.replace(/:/g, " ").toLowerCase())).toEqual(groups);
  });
});

describe("errors", () => {
  it("are told by their stable code, in the chosen language", () => {
    setLanguage("en");
    expect(errorText({ code: "offline", message: "connect refused" })).toMatch(/cannot be reached/);
    expect(errorText({ code: "rejected", message: "bad media" })).toBe("The server refused it: bad media");
    setLanguage("ja");
    expect(errorText({ code: "sign_in_refused", message: "x" })).toMatch(/パスワード/);
    expect(errorText(new Error("boom"))).toBe("問題が発生しました: boom");
    // A code this build has no words for is said generally, never as the code.
    expect(errorText({ code: "from_a_newer_shell", message: "boom" })).toBe("問題が発生しました: boom");
    setLanguage("en");
  });
});

describe("queue", () => {
  it("says why a record waits by the kind of trouble, never the core's English words", () => {
    setLanguage("ja");
    const detail = "cannot reach the server: Connection refused (os error 111)";
    expect(retryReasonText("offline", detail)).toBe("サーバーに接続できませんでした。自動的に再送します。");
    // Rows from before the code was kept, and codes with no words of their own.
    expect(retryReasonText(null, detail)).toBe("前回の送信に失敗しました。自動的に再送します。");
    expect(retryReasonText("local_storage", detail)).toBe("前回の送信に失敗しました。自動的に再送します。");
    expect(retryReasonText(null, null)).toBeNull();
    setLanguage("en");
    expect(retryReasonText("server_error", "the server answered 503")).toBe("The server failed; it will be sent again by itself.");
  });
});

describe("status", () => {
  it("shows the sync state with its reason", () => {
    setLanguage("en");
    const until = "2026-01-01T00:00:00Z";
    const reason = "cannot reach the server: Connection refused (os error 111)";
    expect(syncText({ state: "waiting", until, reason, code: "offline" })).toBe("Waiting to retry: the server cannot be reached");
    expect(syncText({ state: "waiting", until, reason: "records are backing off", code: null })).toBe(
      "Waiting to retry: records wait after a failed attempt",
    );
    // A code with no words of its own is said by the general error text.
    expect(syncText({ state: "waiting", until, reason: "keyring locked", code: "keyring_unavailable" })).toMatch(
      /keyring is locked or unavailable: keyring locked/,
    );
    setLanguage("ja");
    expect(syncText({ state: "waiting", until, reason, code: "offline" })).toBe("再試行を待っています: サーバーに接続できません");
    setLanguage("en");
    expect(syncText({ state: "paused" })).toBe("Paused");
    expect(syncText(null)).toBe("Not signed in");
  });

  it("says up to date only when nothing waits and nothing was rejected", () => {
    const empty = { queued: 0, in_flight: 0, rejected: 0, sent: 4 };
    setLanguage("en");
    expect(syncText({ state: "idle" }, empty)).toBe("Up to date");
    expect(syncText({ state: "idle" }, { ...empty, rejected: 1 })).toBe("Not all sent: 1 rejected (see Queue)");
    expect(syncText({ state: "idle" }, { ...empty, queued: 2, in_flight: 1 })).toBe("3 waiting to be sent");
    // A rejection is said before what still waits.
    expect(syncText({ state: "idle" }, { ...empty, queued: 2, rejected: 1 })).toMatch(/1 rejected/);
    expect(syncText({ state: "paused" }, { ...empty, rejected: 1 })).toBe("Paused");
    setLanguage("ja");
    expect(syncText({ state: "idle" }, { ...empty, rejected: 1 })).toBe("未送信あり: 1 件が拒否されました（送信キューを参照）");
    expect(syncText({ state: "idle" }, empty)).toBe("最新の状態です");
    setLanguage("en");
  });

  it("takes the queue counts from queue events only", () => {
    const before = { queued: 1, in_flight: 0, rejected: 0, sent: 0 };
    const after = { queued: 0, in_flight: 0, rejected: 1, sent: 0 };
    expect(nextQueueStatus(before, { type: "queue_changed", status: after })).toEqual(after);
    expect(nextQueueStatus(before, { type: "delivered", kind: "dfe", record_ids: [] })).toBe(before);
  });

  it("says when a file was captured without its job part", () => {
    setLanguage("en");
    expect(folderEventText({ event: "captured", file: "a.jdf", record_ids: ["x"], withheld: ["job_info"] })).toMatch(/without job information/);
    expect(folderEventText({ event: "captured", file: "a.jdf", record_ids: ["x"], withheld: [] })).toBe("a.jdf: captured");
  });

  it("says when the full quarantine deleted its oldest files, in both languages", () => {
    const pruned = {
      event: "quarantine_pruned" as const, files: ["a.jdf", "b.jmf"], bytes: 2048,
      limits: { max_bytes: 64 * 1024 * 1024, max_files: 1000 },
    };
    setLanguage("en");
    expect(folderEventText(pruned)).toBe("The quarantine is full (1000 files or 64 MB at most): its 2 oldest files were deleted.");
    setLanguage("ja");
    expect(folderEventText(pruned)).toBe("隔離フォルダーが上限（最大 1000 ファイル、64 MB）に達したため、古いファイル 2 件を削除しました。");
    setLanguage("en");
  });
});

describe("the preview", () => {
  const record: PreviewRecord = {
    record_id: "r1", kind: "dfe", state: "queued", captured_at: "2026-11-22T00:00:00Z",
    body: { record_id: "r1", print_settings: { preset_name: "Proof" } },
    gated: [{ purpose: "job_info", field: "job", will_send: true, value: { job_id: "J-1" } }],
  };
  it("puts back exactly the gated parts that will be sent", () => {
    expect(outgoingJson(record)).toEqual({ ...record.body, job: { job_id: "J-1" } });
    const refused = { ...record, gated: [{ ...record.gated[0], will_send: false }] };
    expect(outgoingJson(refused)).toEqual(record.body);
    expect(outgoingJson(refused)).not.toHaveProperty("job");
  });
});
