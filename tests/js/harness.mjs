// Runs the hub's OzWebClient script under Node and drives it with JSON lines on stdin.
//
//   node [--experimental-websocket] harness.mjs http://127.0.0.1:PORT/ozwebclient.js
//
// The script is fetched from the hub (so the route is what is tested) and run in this global
// scope, as a page's <script> would be. Commands (one JSON object a line on stdin):
//   {"do": "connect", "args": [serverAddress, line, properties, token], "read": ["nickname", ...]}
//   {"do": "send", "ref": "r1", "text": "hi", "to": "Qdb3W"}
//   {"do": "update", "ref": "r2", "properties": {...}}
//   {"do": "upload", "ref": "r3", "base64": "..."}     {"do": "typing", "ref": "r4", "to": null, "stopped": false}
//   {"do": "urls", "ref": "r5", "servers": [...], "avatars": [...]}
//   {"do": "twin", "ref": "r8", "args": [...]}   (a second client, from OzWebClient.createClient())
//   {"do": "roster", "ref": "r6"}          {"do": "disconnect", "ref": "r7"}      {"do": "exit"}
//   {"do": "welcome", "ref": "r11"}  (the last welcome frame heard on the wire)
//   {"do": "clock", "ref": "r9", "ms": 0}  (before connect: the client becomes one from
//       OzWebClient.createClient({now}) whose clock reads `ms`)   {"do": "advance", "ref": "r10", "ms": 1000}
// Everything it hears is written to stdout as one JSON object a line: {"event": "state" | "client"
// | "message" | "typing" | "error" | "synced" | "gap" | "reply" | "loaded", ...}.
import * as readline from "node:readline";
import * as vm from "node:vm";

const scriptUrl = process.argv[2];
const say = (record) => process.stdout.write(JSON.stringify(record) + "\n");

const response = await fetch(scriptUrl);
const source = await response.text();
say({
  event: "loaded",
  status: response.status,
  contentType: response.headers.get("content-type"),
  nosniff: response.headers.get("x-content-type-options"),
  cacheControl: response.headers.get("cache-control"),
  etag: response.headers.get("etag"),
});
// A tap on the wire, outside the script: the last welcome heard, for tests that act as this client elsewhere.
let lastWelcome = null;
globalThis.WebSocket = class TappedWebSocket extends globalThis.WebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      const frame = typeof event.data === "string" && event.data.startsWith("{") ? JSON.parse(event.data) : null;
      if (frame?.type === "welcome") lastWelcome = frame;
    });
  }
};
vm.runInThisContext(source, { filename: "ozwebclient.js" });
let client = globalThis.OzWebClient;
let reads = [];
let clockMs = 0; // what a client made by the "clock" command reads as the time

// The clientInfo as a page sees it: what it is, and what the names asked for read on it.
function describe(info) {
  return {
    phoneNumber: info.phoneNumber,
    status: info.status,
    properties: info.properties,
    reads: Object.fromEntries(reads.map((name) => [name, info[name] === undefined ? null : info[name]])),
    has: Object.fromEntries(reads.map((name) => [name, name in info])),
    frozen: Object.isFrozen(info),
  };
}

function listen(target) {
  target.onConnectionStateChanged((state, details) => say({ event: "state", state, details }));
  target.onClientStateChanged((info) => say({ event: "client", ...describe(info) }));
  target.onMessageReceived((message) => say({ event: "message", message }));
  target.onErrorOccured((error) => say({ event: "error", error }));
  target.onSynced((synced) => say({ event: "synced", ...synced }));
  target.onGap((gap) => say({ event: "gap", ...gap }));
  target.onTyping((typing) => say({ event: "typing", ...typing }));
}
listen(client);

function reply(ref, promise) {
  promise.then(
    (result) => say({ event: "reply", ref, ok: true, result: result === undefined ? null : result }),
    (error) => say({ event: "reply", ref, ok: false, code: error.code ?? null, message: error.message }),
  );
}

const commands = {
  connect(command) {
    reads = command.read ?? [];
    reply(command.ref, client.connect(...command.args));
  },
  send(command) {
    reply(command.ref, client.sendMessage(command.text, command.to, command.options));
  },
  update(command) {
    reply(command.ref, client.updateProperties(command.properties).then(describe));
  },
  roster(command) {
    reply(command.ref, Promise.resolve({
      phoneNumber: client.getPhoneNumber(),
      state: client.getConnectionState(),
      clients: client.getClients().map(describe),
      avatar: client.avatarUrl("cat"),
    }));
  },
  upload(command) {
    reply(command.ref, client.uploadAvatar(Buffer.from(command.base64, "base64")));
  },
  typing(command) {
    reply(command.ref, Promise.resolve(client.sendTyping(command.to, command.stopped)));
  },
  urls(command) {
    const attempt = (make) => {
      try {
        return make();
      } catch (error) {
        return { error: error.message };
      }
    };
    // With `page`, the addresses are read as on a page loaded from that URL (what `location` says).
    if (command.page) globalThis.location = new URL(command.page);
    const servers = command.servers.map((address) => attempt(() => globalThis.OzWebClient.serverUrl(address)));
    delete globalThis.location;
    reply(command.ref, Promise.resolve({ servers, avatars: (command.avatars ?? []).map((a) => client.avatarUrl(a)) }));
  },
  twin(command) {
    // A second, independent client in the same page, as OzWebClient.createClient() makes one.
    const twin = globalThis.OzWebClient.createClient();
    twin.onConnectionStateChanged((state) => say({ event: "twin-state", state }));
    reply(command.ref, twin.connect(...command.args).then((state) => ({
      state,
      phoneNumber: twin.getPhoneNumber(),
      me: describe(twin.getMe()),
      constants: [globalThis.OzWebClient.ConnectionState.ACCESS_GRANTED, globalThis.OzWebClient.ClientStatus.OFFLINE],
    })));
  },
  clock(command) {
    clockMs = command.ms;
    client = globalThis.OzWebClient.createClient({ now: () => clockMs });
    listen(client);
    reply(command.ref, Promise.resolve(clockMs));
  },
  advance(command) {
    clockMs += command.ms;
    reply(command.ref, Promise.resolve(clockMs));
  },
  welcome(command) {
    reply(command.ref, Promise.resolve(lastWelcome));
  },
  disconnect(command) {
    reply(command.ref, client.disconnect());
  },
  exit() {
    process.exit(0);
  },
};

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  const command = JSON.parse(line);
  commands[command.do](command);
});
input.on("close", () => process.exit(0));
say({ event: "ready" });
