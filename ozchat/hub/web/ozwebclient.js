/* OzWebClient for ozchat: Ozeki's OzWebClient JavaScript API on the ozchat wire protocol.
 *
 * One dependency-free script; it defines the global `OzWebClient` and nothing else, and never
 * touches the page: whatever other people send (text, nicknames, any property) reaches the
 * callbacks as plain data, for the page to insert as text. The API is in docs/OZWEBCLIENT.md,
 * the wire protocol in docs/PROTOCOL.md.
 *
 *   OzWebClient.onClientStateChanged(function (clientInfo) {
 *     console.log(clientInfo.nickname + " is " + clientInfo.status);  // "John is ONLINE"
 *   });
 *   OzWebClient.connect("localhost", "Webphone1", {nickname: "Mary"});
 */
(function (root) {
  "use strict";

  var DEFAULT_PORT = 7779;
  var PROTOCOL_VERSION = 1;
  var CONNECT_TIMEOUT_MS = 10000; // no welcome this long after dialling: the attempt failed
  var BACKOFF_BASE_S = 0.5; // reconnect waits d/2 + random(0, d/2), d doubling from this ...
  var BACKOFF_CAP_S = 30; // ... up to this, as the Python client's ReconnectPolicy
  var RATE_LIMIT_PAUSES_S = [0.2, 0.4, 0.8, 1.6, 3.2]; // before resending a rate-limited request
  var ANSWERS_REMEMBERED = 256; // answered ids: a second answer to a resent request is dropped
  var TYPING_REFRESH_MS = 3000; // while keys are pressed, one typing frame per conversation this often
  var TYPING_INTERVAL_MS = 1000; // the hub relays one typing per conversation this often, after a stopped too
  var RESERVED = { phoneNumber: true, status: true, properties: true };

  var ConnectionState = Object.freeze({
    ACCESS_GRANTED: "ACCESS_GRANTED",
    ACCESS_DENIED: "ACCESS_DENIED",
    CONNECTION_FAILED: "CONNECTION_FAILED",
    CONNECTION_CLOSED: "CONNECTION_CLOSED"
  });
  var ClientStatus = Object.freeze({ ONLINE: "ONLINE", OFFLINE: "OFFLINE" });

  function hasOwn(object, name) {
    return Object.prototype.hasOwnProperty.call(object, name);
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  // Python's str.casefold() for property names, as near as JavaScript comes ("ß" folds to "ss").
  function fold(name) {
    return String(name).toUpperCase().toLowerCase();
  }

  /** The property called `name`, names matched ignoring case, as every ozchat client reads them. */
  function propertyValue(properties, name) {
    if (!isObject(properties)) return undefined;
    if (hasOwn(properties, name)) return properties[name];
    var folded = fold(name);
    var names = Object.keys(properties);
    for (var i = 0; i < names.length; i++) {
      if (fold(names[i]) === folded) return properties[names[i]];
    }
    return undefined;
  }

  /** Ozeki's clientInfo: phoneNumber, status, and every shared property flattened onto it, read ignoring case. */
  function makeClientInfo(phoneNumber, status, properties) {
    var copy = isObject(properties) ? JSON.parse(JSON.stringify(properties)) : {};
    var info = { phoneNumber: phoneNumber, status: status, properties: copy };
    Object.keys(copy).forEach(function (name) {
      // defineProperty, not assignment: a property named "__proto__" stays a property.
      if (!hasOwn(RESERVED, name) && !(name in Object.prototype)) {
        Object.defineProperty(info, name, { value: copy[name], enumerable: true });
      }
    });
    Object.freeze(info);
    if (typeof Proxy !== "function") return info;
    return new Proxy(info, {
      get: function (target, name, receiver) {
        if (typeof name !== "string" || hasOwn(target, name) || hasOwn(RESERVED, name)) {
          return Reflect.get(target, name, receiver);
        }
        var value = propertyValue(copy, name);
        return value !== undefined && !(name in Object.prototype) ? value : Reflect.get(target, name, receiver);
      },
      has: function (target, name) {
        return Reflect.has(target, name) || (typeof name === "string" && propertyValue(copy, name) !== undefined);
      }
    });
  }

  function sameProperties(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
  }

  function randomText(length, alphabet) {
    var bytes = new Uint8Array(length);
    root.crypto.getRandomValues(bytes);
    var text = "";
    for (var i = 0; i < length; i++) text += alphabet.charAt(bytes[i] % alphabet.length);
    return text;
  }

  var URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"; // 64: no bias
  var HEX = "0123456789abcdef";

  function urlHost(host) {
    return host.indexOf(":") >= 0 && host.charAt(0) !== "[" ? "[" + host + "]" : host;
  }

  /** A WebSocket URL from "host", "host:port", "[v6]:port", a bare IPv6 address or a ws(s):// URL. */
  function serverUrl(address) {
    if (address === undefined || address === null || String(address).trim() === "") {
      // No address on a page: the hub that served it, as the page's own scheme says.
      if (root.location && /^https?:$/.test(root.location.protocol)) {
        return (root.location.protocol === "https:" ? "wss://" : "ws://") + root.location.host + "/";
      }
      throw new Error("an empty server address");
    }
    address = String(address).trim();
    if (address.indexOf("://") >= 0) {
      if (!/^wss?:\/\/[^\/?#]+/i.test(address)) throw new Error("not a ws:// or wss:// address: " + address);
      return address;
    }
    var secure = root.location && root.location.protocol === "https:"; // a https page may not dial ws://
    var host = address;
    var port = DEFAULT_PORT;
    var bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(address);
    if (bracketed) {
      host = "[" + bracketed[1] + "]";
      if (bracketed[2]) port = Number(bracketed[2]);
    } else if ((address.match(/:/g) || []).length > 1) {
      host = urlHost(address); // a bare IPv6 address: none of its colons is before a port
    } else if (address.indexOf(":") >= 0) {
      host = address.slice(0, address.indexOf(":"));
      var portText = address.slice(address.indexOf(":") + 1);
      if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new Error("bad port in server address " + address);
      port = Number(portText);
    }
    if (!host || /[\s\/?#@]/.test(host)) throw new Error("no host in server address " + address);
    return (secure ? "wss://" : "ws://") + host + ":" + port + "/";
  }

  function closeReason(event) {
    return event && event.reason ? event.reason : "the connection closed (code " + (event ? event.code : "?") + ")";
  }

  /** One connection to one line of a hub, across reconnects. The global OzWebClient is one of these. */
  function Client(options) {
    // options.now: the clock typing is timed by, in milliseconds (a seam for tests; Date.now by default).
    this._now = options && typeof options.now === "function" ? options.now : Date.now;
    this._listeners = { state: [], client: [], message: [], error: [], synced: [], gap: [], typing: [] };
    this._clientSecret = randomText(32, URL_SAFE);
    this._reset();
    this._state = null;
    this._active = false;
  }

  Client.prototype._reset = function () {
    this._url = null;
    this._line = null;
    this._token = undefined;
    this._history = undefined;
    this._properties = {};
    this._phoneNumber = null;
    this._resumeToken = null;
    this._epoch = null;
    this._lastSeq = 0;
    this._lastDirectSeq = 0;
    this._joined = false;
    this._roster = new Map();
    this._snapshot = null;
    this._pending = new Map();
    this._answered = [];
    this._socket = null;
    this._failures = 0;
    this._timers = new Set();
    // conversation ("" the line, else a phone number) -> {at: when a typing went out, active: no stop since}
    this._typingSent = new Map();
  };

  Client.prototype._on = function (kind, fn) {
    if (typeof fn !== "function") throw new TypeError("a callback function is required");
    this._listeners[kind].push(fn);
  };

  Client.prototype._emit = function (kind, args) {
    this._listeners[kind].slice().forEach(function (fn) {
      try {
        fn.apply(null, args);
      } catch (error) {
        // One page callback that throws must not stop the others or the client.
        setTimeout(function () { throw error; }, 0);
      }
    });
  };

  Client.prototype._later = function (seconds, fn) {
    var self = this;
    var timer = setTimeout(function () {
      self._timers.delete(timer);
      fn();
    }, Math.max(0, seconds * 1000));
    this._timers.add(timer);
    return timer;
  };

  Client.prototype._clearTimers = function () {
    this._timers.forEach(function (timer) { clearTimeout(timer); });
    this._timers.clear();
  };

  // ---- events ---------------------------------------------------------------------------

  Client.prototype.onConnectionStateChanged = function (fn) { this._on("state", fn); };
  Client.prototype.onClientStateChanged = function (fn) { this._on("client", fn); };
  Client.prototype.onMessageReceived = function (fn) { this._on("message", fn); };
  Client.prototype.onErrorOccured = function (fn) { this._on("error", fn); };
  Client.prototype.onSynced = function (fn) { this._on("synced", fn); };
  Client.prototype.onGap = function (fn) { this._on("gap", fn); };
  Client.prototype.onTyping = function (fn) { this._on("typing", fn); };

  Client.prototype._setState = function (state, details) {
    this._state = state;
    this._emit("state", [state, details || {}]);
  };

  // ---- what the page reads ----------------------------------------------------------------

  Client.prototype.getConnectionState = function () { return this._state; };
  Client.prototype.getPhoneNumber = function () { return this._phoneNumber; };
  Client.prototype.getLine = function () { return this._line; };
  Client.prototype.getProperties = function () { return JSON.parse(JSON.stringify(this._properties)); };
  Client.prototype.getClientSecret = function () { return this._clientSecret; };
  /** Joined and the socket is up: requests go out at once. */
  Client.prototype.isConnected = function () { return this._open === true; };
  /** The connection dropped and the client is getting it back; requests wait meanwhile. */
  Client.prototype.isReconnecting = function () { return this._active && this._joined && !this._open; };
  Client.prototype.getClients = function () { return Array.from(this._roster.values()); };
  Client.prototype.getClient = function (phoneNumber) { return this._roster.get(phoneNumber) || null; };

  /** An avatar as an URL to fetch: absolute http(s) URLs as they are, names resolved against this hub's /avatars/. */
  Client.prototype.avatarUrl = function (avatar) {
    if (typeof avatar !== "string" || /\s/.test(avatar)) return null;
    if (/^https?:\/\/[^\/?#\s]+/i.test(avatar)) return avatar;
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(avatar) || !this._url) return null;
    var origin = /^(wss?):\/\/([^\/?#]+)/i.exec(this._url);
    var scheme = origin[1].toLowerCase() === "wss" ? "https" : "http";
    return scheme + "://" + origin[2] + "/avatars/" + encodeURIComponent(avatar);
  };

  // ---- connecting -----------------------------------------------------------------------

  /**
   * Join `line` on the hub at `serverAddress` with shared `properties`. `token` is the hub's
   * token, when it asks for one. Returns a Promise of the state it came to first
   * (ACCESS_GRANTED, ACCESS_DENIED, CONNECTION_FAILED or CONNECTION_CLOSED); it never rejects.
   */
  Client.prototype.connect = function (serverAddress, line, properties, token) {
    var self = this;
    if (this._active) return Promise.reject(new Error("already connected; disconnect first"));
    var options = isObject(token) ? token : { token: token };
    this._clearTimers();
    this._reset();
    try {
      this._url = serverUrl(serverAddress);
    } catch (error) {
      this._setState(ConnectionState.CONNECTION_FAILED, { reason: error.message });
      return Promise.resolve(ConnectionState.CONNECTION_FAILED);
    }
    this._line = String(line);
    this._properties = isObject(properties) ? JSON.parse(JSON.stringify(properties)) : {};
    this._token = options.token === null ? undefined : options.token;
    this._history = options.history;
    this._active = true;
    return new Promise(function (resolve) {
      self._firstOutcome = resolve;
      self._dial();
    });
  };

  Client.prototype._settle = function (state) {
    if (this._firstOutcome) {
      var resolve = this._firstOutcome;
      this._firstOutcome = null;
      resolve(state);
    }
  };

  Client.prototype._hello = function () {
    var hello = { type: "hello", version: PROTOCOL_VERSION, line: this._line, properties: this._properties,
                  clientSecret: this._clientSecret };
    if (this._token !== undefined) hello.token = this._token;
    if (!this._joined) {
      if (this._history !== undefined) hello.history = this._history;
    } else {
      if (this._phoneNumber && this._resumeToken) {
        hello.resume = { phoneNumber: this._phoneNumber, token: this._resumeToken };
      }
      hello.lastSeq = this._lastSeq;
      hello.lastDirectSeq = this._lastDirectSeq;
      hello.epoch = this._epoch;
    }
    return hello;
  };

  /** One attempt: open a socket, say hello, wait for the welcome. */
  Client.prototype._dial = function () {
    var self = this;
    var socket;
    var welcomed = false;
    try {
      socket = new root.WebSocket(this._url);
    } catch (error) {
      this._attemptFailed(error.message, null);
      return;
    }
    this._socket = socket;
    this._open = false;
    var timeout = this._later(CONNECT_TIMEOUT_MS / 1000, function () {
      if (!welcomed) {
        socket.close();
        finish("the hub did not answer within " + CONNECT_TIMEOUT_MS / 1000 + " s", null, true);
      }
    });
    var finished = false;
    var refusal = null;
    function finish(reason, retryAfter, failed) {
      if (finished) return;
      finished = true;
      clearTimeout(timeout);
      self._timers.delete(timeout);
      if (self._socket === socket) self._socket = null;
      self._open = false;
      if (failed) self._attemptFailed(reason, retryAfter);
    }
    socket.onopen = function () {
      if (self._socket !== socket) return;
      socket.send(JSON.stringify(self._hello()));
    };
    socket.onmessage = function (event) {
      if (self._socket !== socket || typeof event.data !== "string") return;
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return; // not a frame this client can read: ignored, as the protocol asks
      }
      if (!isObject(frame)) return;
      if (!welcomed) {
        if (frame.type === "welcome") {
          welcomed = true;
          clearTimeout(timeout);
          self._timers.delete(timeout);
          self._open = true;
          self._granted(frame);
        } else if (frame.type === "error") {
          refusal = frame;
        }
        return;
      }
      self._receive(frame);
    };
    socket.onerror = function () {
      // Node's WebSocket reports a refused dial with an error and no close: end the attempt here.
      if (!finished && !welcomed && refusal === null) {
        finish("cannot reach the hub at " + self._url, null, true);
      }
    };
    socket.onclose = function (event) {
      if (finished) return;
      if (welcomed) {
        finish(null, null, false);
        self._dropped(event);
      } else if (refusal && refusal.code === "rate_limited") {
        finish("the hub asks to wait: " + refusal.message, refusal.retryAfter, true);
      } else if (refusal && refusal.code === "store_failed") { // the hub's own trouble (Redis away): not a refusal
        finish("the hub cannot let anyone in for now: " + refusal.message, null, true);
      } else if (refusal) {
        finish(null, null, false);
        self._denied(refusal);
      } else {
        finish("cannot reach the hub at " + self._url + ": " + closeReason(event), null, true);
      }
    };
  };

  Client.prototype._attemptFailed = function (reason, retryAfter) {
    var self = this;
    if (!this._active) return;
    if (!this._joined) { // a first connection that fails is told at once, as in Ozeki
      this._end(ConnectionState.CONNECTION_FAILED, { reason: reason });
      return;
    }
    var wait = this._backoff(retryAfter);
    this._later(wait, function () { if (self._active) self._dial(); });
  };

  /** The seconds before the next attempt: d/2 + random(0, d/2), d doubling up to the cap; at least retryAfter. */
  Client.prototype._backoff = function (retryAfter) {
    var ceiling = Math.min(BACKOFF_CAP_S, BACKOFF_BASE_S * Math.pow(2, Math.min(this._failures, 64)));
    this._failures += 1;
    return Math.max(retryAfter || 0, ceiling / 2 + Math.random() * ceiling / 2);
  };

  Client.prototype._denied = function (error) {
    this._end(ConnectionState.ACCESS_DENIED, { code: error.code, reason: error.message });
  };

  Client.prototype._granted = function (welcome) {
    if (!this._joined) { // numbering starts at the hub's newest: what came before is history, not missed
      this._lastSeq = welcome.lastSeq || 0;
      this._lastDirectSeq = welcome.lastDirectSeq || 0;
    }
    var historyReset = this._epoch !== null && welcome.epoch !== this._epoch;
    if (historyReset) {
      this._lastSeq = 0;
      this._lastDirectSeq = 0;
    }
    this._joined = true;
    this._failures = 0;
    this._epoch = welcome.epoch;
    this._phoneNumber = welcome.phoneNumber;
    this._line = welcome.line;
    this._properties = isObject(welcome.properties) ? welcome.properties : {};
    this._resumeToken = welcome.resumeToken;
    this._snapshot = new Map();
    this._setState(ConnectionState.ACCESS_GRANTED, {
      phoneNumber: welcome.phoneNumber, resumed: welcome.resumed === true, historyReset: historyReset
    });
    this._settle(ConnectionState.ACCESS_GRANTED);
    var socket = this._socket;
    // Every request the hub has not answered (again, after a drop) with its id: what it has is acked, not relayed twice.
    this._pending.forEach(function (pending) { socket.send(pending.data); });
  };

  Client.prototype._dropped = function (event) {
    var self = this;
    var details = { code: event.code, reason: closeReason(event) };
    if (!this._active) return;
    if (event.code === 4009) { // replaced by this client's own newer connection: nothing to take back
      this._end(ConnectionState.CONNECTION_CLOSED, details);
      return;
    }
    details.retrying = true;
    this._setState(ConnectionState.CONNECTION_CLOSED, details);
    var wait = this._backoff(null); // the drop counts as the first failure: wait a little first
    this._later(wait, function () { if (self._active) self._dial(); });
  };

  Client.prototype._end = function (state, details) {
    this._active = false;
    this._clearTimers();
    this._pending.forEach(function (pending) {
      var error = new Error("the connection closed before the hub answered");
      error.code = "connection_closed";
      pending.reject(error);
    });
    this._pending.clear();
    this._roster.clear();
    this._snapshot = null;
    this._socket = null;
    this._open = false;
    this._setState(state, details);
    this._settle(state);
  };

  /** Leave the line for good (close code 1000: others see OFFLINE at once). Returns a Promise, resolved once closed. */
  Client.prototype.disconnect = function () {
    var self = this;
    if (!this._active) return Promise.resolve();
    var socket = this._socket;
    this._active = false;
    this._clearTimers();
    return new Promise(function (resolve) {
      function closed() {
        self._end(ConnectionState.CONNECTION_CLOSED, { code: 1000, reason: "disconnected" });
        resolve();
      }
      if (socket === null || socket.readyState === 3) {
        closed();
        return;
      }
      socket.onclose = closed;
      socket.onmessage = null;
      self._socket = null;
      socket.close(1000, "bye");
    });
  };

  // ---- requests --------------------------------------------------------------------------

  Client.prototype._request = function (frame) {
    var self = this;
    if (!this._active) {
      var error = new Error("not connected");
      error.code = "not_connected";
      return Promise.reject(error);
    }
    frame.id = randomText(16, HEX);
    var data = JSON.stringify(frame);
    return new Promise(function (resolve, reject) {
      self._pending.set(frame.id, { frame: frame, data: data, resolve: resolve, reject: reject, pauses: 0 });
      if (self._open && self._socket) self._socket.send(data); // else it goes out after the reconnect
    });
  };

  /**
   * Send `text` to the whole line, or with `to` (a phone number) to that client only; options.action
   * for a /me action. While reconnecting it waits and goes out once the line is back. Returns a
   * Promise of the message as the hub numbered it; rejects with an Error whose `code` is the hub's.
   */
  Client.prototype.sendMessage = function (text, to, options) {
    var self = this;
    var frame = { type: "send", text: String(text) };
    if (to !== undefined && to !== null && to !== "") frame.to = String(to);
    if (options && options.action) frame.action = true;
    this.sendTyping(frame.to, true); // the message ends its sender's typing there, as in the Python client
    return this._request(frame).then(function (ack) {
      var message = { seq: ack.seq, ts: ack.ts, from: self._phoneNumber, text: frame.text, id: ack.id };
      var nickname = propertyValue(self._properties, "nickname");
      if (typeof nickname === "string") message.nickname = nickname;
      if (frame.to !== undefined) message.to = frame.to;
      if (frame.action) message.action = true;
      if (ack.directSeq !== undefined && ack.directSeq !== null) message.directSeq = ack.directSeq;
      return message;
    });
  };

  /** Change shared properties (null removes one); everyone else hears of it. A Promise of this client's clientInfo. */
  Client.prototype.updateProperties = function (changes) {
    var self = this;
    if (!isObject(changes)) return Promise.reject(new TypeError("properties must be an object"));
    return this._request({ type: "update", properties: JSON.parse(JSON.stringify(changes)) }).then(function (ack) {
      if (isObject(ack.properties)) self._properties = ack.properties;
      return self.getMe();
    });
  };

  /**
   * Give the hub an avatar image (the bytes of a PNG, JPEG, GIF or WebP file, 256 KiB at most, as an
   * ArrayBuffer or a typed array). A Promise of its name: share it as the `avatar` property.
   */
  Client.prototype.uploadAvatar = function (image) {
    var bytes = image instanceof ArrayBuffer ? new Uint8Array(image)
      : ArrayBuffer.isView(image) ? new Uint8Array(image.buffer, image.byteOffset, image.byteLength) : null;
    if (bytes === null) return Promise.reject(new TypeError("an image is an ArrayBuffer or a typed array"));
    var binary = "";
    for (var i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return this._request({ type: "upload", data: root.btoa(binary) }).then(function (uploaded) {
      return uploaded.name;
    });
  };

  /**
   * Call on every key pressed in a conversation (the line, or with `to` a direct one): at most one
   * typing frame goes out every 3 s; with `stopped` (the input was cleared) one stop, only after a
   * typing; after a stop, typing again goes out once the hub would relay it (1 s after the last).
   * Nothing waits or is resent: true when a frame went out.
   */
  Client.prototype.sendTyping = function (to, stopped) {
    var conversation = to === undefined || to === null ? "" : String(to);
    var now = this._now();
    var last = this._typingSent.get(conversation);
    if (!this._open || !this._socket) return false;
    var frame = { type: "typing" };
    if (conversation) frame.to = conversation;
    if (stopped) {
      if (last === undefined || !last.active) return false;
      last.active = false; // its time is kept: the hub drops a typing within a second of it, stop or not
      frame.stopped = true;
    } else {
      if (last !== undefined && now - last.at < (last.active ? TYPING_REFRESH_MS : TYPING_INTERVAL_MS)) return false;
      this._typingSent.set(conversation, { at: now, active: true });
    }
    this._socket.send(JSON.stringify(frame));
    return true;
  };

  /** This client as others see it (a clientInfo), or null before the first welcome. */
  Client.prototype.getMe = function () {
    if (this._phoneNumber === null) return null;
    return makeClientInfo(this._phoneNumber, ClientStatus.ONLINE, this._properties);
  };

  // ---- incoming --------------------------------------------------------------------------

  Client.prototype._receive = function (frame) {
    var self = this;
    if (frame.type === "presence") {
      (Array.isArray(frame.clients) ? frame.clients : []).forEach(function (entry) {
        if (!isObject(entry) || typeof entry.phoneNumber !== "string" || entry.phoneNumber === self._phoneNumber) return;
        var info = makeClientInfo(entry.phoneNumber, entry.status === "OFFLINE" ? "OFFLINE" : "ONLINE", entry.properties);
        if (self._snapshot) {
          self._snapshot.set(info.phoneNumber, info);
        } else if (self._apply(info)) {
          self._emit("client", [info]);
        }
      });
      return;
    }
    if (this._snapshot) { // the hub sends the whole snapshot before any other frame
      var snapshot = this._snapshot;
      this._snapshot = null;
      this._reconcile(snapshot);
    }
    if (frame.type === "message") {
      if (this._isNew(frame)) this._emit("message", [messageOf(frame)]);
    } else if ((frame.type === "ack" || frame.type === "error" || frame.type === "uploaded") &&
               typeof frame.id === "string" && this._pending.has(frame.id)) {
      this._answer(frame);
    } else if (frame.type === "error" && this._answered.indexOf(frame.id) < 0) {
      this._emit("error", [{ code: frame.code, message: frame.message, id: frame.id }]);
    } else if (frame.type === "synced") {
      this._emit("synced", [{ lastSeq: frame.lastSeq }]);
    } else if (frame.type === "typing" && typeof frame.from === "string") {
      var typing = { from: frame.from, stopped: frame.stopped === true };
      if (typeof frame.to === "string") typing.to = frame.to;
      this._emit("typing", [typing]);
    } else if (frame.type === "gap") {
      this._emit("gap", [{ afterSeq: frame.afterSeq, beforeSeq: frame.beforeSeq, direct: frame.direct === true }]);
    }
  };

  /** Put a change in the roster; false when it changes nothing there. */
  Client.prototype._apply = function (info) {
    var before = this._roster.get(info.phoneNumber);
    if (info.status === ClientStatus.OFFLINE) {
      if (!before) return false;
      this._roster.delete(info.phoneNumber);
      return true;
    }
    this._roster.set(info.phoneNumber, info);
    return !before || !sameProperties(before.properties, info.properties);
  };

  /** After a (re)connect: the roster becomes the hub's snapshot; only real changes are told, departures first. */
  Client.prototype._reconcile = function (snapshot) {
    var self = this;
    var changes = [];
    this._roster.forEach(function (info, number) {
      if (!snapshot.has(number)) changes.push(makeClientInfo(number, ClientStatus.OFFLINE, info.properties));
    });
    snapshot.forEach(function (info, number) {
      var before = self._roster.get(number);
      if (before && !sameProperties(before.properties, info.properties)) changes.push(info);
    });
    snapshot.forEach(function (info, number) {
      if (!self._roster.has(number)) changes.push(info);
    });
    changes.forEach(function (info) {
      self._apply(info);
      self._emit("client", [info]);
    });
  };

  /** Not seen yet: a replay may overlap what came live. Direct messages are numbered apart. */
  Client.prototype._isNew = function (frame) {
    if (typeof frame.directSeq === "number") {
      if (!frame.history && frame.directSeq <= this._lastDirectSeq) return false;
      this._lastDirectSeq = Math.max(this._lastDirectSeq, frame.directSeq);
    } else {
      if (typeof frame.seq !== "number") return false;
      if (!frame.history && frame.seq <= this._lastSeq) return false;
      this._lastSeq = Math.max(this._lastSeq, frame.seq);
    }
    return true;
  };

  Client.prototype._answer = function (frame) {
    var self = this;
    var pending = this._pending.get(frame.id);
    if (frame.type === "error" && frame.code === "rate_limited" && pending.pauses < RATE_LIMIT_PAUSES_S.length) {
      // The hub dropped the frame unread: the same frame again once its budget refills.
      var pause = Math.max(RATE_LIMIT_PAUSES_S[pending.pauses], frame.retryAfter || 0);
      pending.pauses += 1;
      this._later(pause, function () {
        if (self._pending.get(frame.id) === pending && self._open && self._socket) self._socket.send(pending.data);
      });
      return;
    }
    this._pending.delete(frame.id);
    this._answered.push(frame.id);
    if (this._answered.length > ANSWERS_REMEMBERED) this._answered.shift();
    if (frame.type === "error") {
      var error = new Error(frame.message || frame.code);
      error.code = frame.code;
      pending.reject(error);
    } else {
      pending.resolve(frame);
    }
  };

  var MESSAGE_FIELDS = ["seq", "directSeq", "ts", "from", "nickname", "to", "text", "action", "id", "history"];

  /** A message as the page gets it: the frame's known fields only, copied. */
  function messageOf(frame) {
    var message = {};
    MESSAGE_FIELDS.forEach(function (name) {
      if (hasOwn(frame, name) && frame[name] !== null) message[name] = frame[name];
    });
    message.direct = typeof frame.to === "string";
    return message;
  }

  var OzWebClient = new Client();
  OzWebClient.ConnectionState = ConnectionState;
  OzWebClient.ClientStatus = ClientStatus;
  OzWebClient.DEFAULT_PORT = DEFAULT_PORT;
  /** Another, independent client (one page may hold several connections); options.now: its clock, for tests. */
  OzWebClient.createClient = function (options) { return new Client(options); };
  OzWebClient.serverUrl = serverUrl;
  OzWebClient.propertyValue = propertyValue;
  root.OzWebClient = OzWebClient;
})(typeof globalThis !== "undefined" ? globalThis : this);
