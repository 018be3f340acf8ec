// The ozchat web page: join a line with a nickname and an avatar, then chat with everyone on it
// (terminal users included) through the hub's OzWebClient library (/ozwebclient.js).
//
// Everything other people send (nicknames, texts, property values) reaches the page through
// textContent only, never as HTML, after `visible()` has made control and direction-changing
// characters show as what they are. Avatars are shown only when they name a picture on this hub:
// the page fetches nothing from any other host (its Content-Security-Policy forbids it too).
"use strict";

(() => {
  const TYPING_SHOWN_MS = 6000;  // a typist shows this long after their last typing, as in the terminal
  const BUNDLED_OR_UPLOADED = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
  // What the terminal client shows as stand-ins, for the same reason: C0/C1 controls, bidi
  // overrides, zero-width and other invisible format characters, lone surrogates, separators.
  const UNPRINTABLE = /(?!\u200d)[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

  const $ = (id) => document.getElementById(id);
  const ui = {
    join: $("join"), line: $("line"), nickname: $("nickname"), upload: $("upload"), token: $("token"),
    joinButton: $("join-button"), joinError: $("join-error"), chat: $("chat"), roster: $("roster"),
    log: $("log"), composer: $("composer"), to: $("to"), text: $("text"), connection: $("connection"),
    leave: $("leave"), lineTitle: $("line-title"), typing: $("typing"),
  };

  // phoneNumber -> {nickname, avatar, item (roster <li>), option (<option> of the "To" list)}
  const roster = new Map();
  let me = { phoneNumber: null, nickname: "", avatar: "" };
  // phoneNumber -> {direct (typing to me), timer}: who is typing now
  const typists = new Map();
  let joined = false;   // ACCESS_GRANTED at least once since the Join button
  let leaving = false;  // the user pressed Leave: the end of the connection is no loss

  /** Text from someone else, with every character that could hide or rearrange text made visible. */
  function visible(text) {
    return String(text).replace(UNPRINTABLE, (char) => {
      const code = char.codePointAt(0);
      if (char === "\n") return char;
      if (char === "\t") return " ";
      if (code < 0x20) return String.fromCodePoint(0x2400 + code);
      if (code === 0x7f) return "\u2421";
      return "<U+" + code.toString(16).toUpperCase().padStart(4, "0") + ">";
    });
  }

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined) made.textContent = visible(text);
    return made;
  }

  /** A hub avatar name as a URL on this page's own hub, or null for anything else. */
  function avatarUrl(avatar) {
    if (typeof avatar !== "string" || !BUNDLED_OR_UPLOADED.test(avatar)) return null;
    return new URL("/avatars/" + encodeURIComponent(avatar), window.location.href).href;
  }

  function avatarElement(avatar, name) {
    const url = avatarUrl(avatar);
    const initial = element("span", "avatar", [...(name || "?")][0].toUpperCase());
    if (url === null) return initial;
    const img = document.createElement("img");
    img.className = "avatar";
    img.alt = "";
    img.addEventListener("error", () => img.replaceWith(initial), { once: true });
    img.src = url;
    return img;
  }

  function nameOf(phoneNumber, nickname) {
    if (phoneNumber === me.phoneNumber) return me.nickname || phoneNumber;
    const known = roster.get(phoneNumber);
    return nickname || (known && known.nickname) || phoneNumber || "?";
  }

  function scrolledToEnd() {
    return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
  }

  function appendToLog(item) {
    const follow = scrolledToEnd();
    ui.log.append(item);
    if (follow) item.scrollIntoView({ block: "end" });
  }

  function timeOf(ts) {
    const when = typeof ts === "number" ? new Date(ts) : new Date();
    return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function notice(text, className = "notice") {
    const item = element("li", className);
    item.append(element("span", "time", timeOf()), element("span", "text", text));
    appendToLog(item);
  }

  function setConnection(text, className) {
    ui.connection.textContent = text;
    ui.connection.className = className;
  }

  // ---- the roster ---------------------------------------------------------------------------

  function fieldOf(info, name) {
    // The library flattens properties onto the client info, matched ignoring case.
    const value = info[name];
    return typeof value === "string" ? value : "";
  }

  function rosterItem(phoneNumber, nickname, avatar, isMe) {
    const item = element("li", isMe ? "me" : "");
    item.dataset.phoneNumber = phoneNumber;
    item.append(avatarElement(avatar, nickname || phoneNumber), element("span", "name", nickname || phoneNumber));
    if (isMe) item.append(element("span", "you", "(you)"));
    else item.addEventListener("click", () => chooseRecipient(phoneNumber));
    return item;
  }

  function showMe() {
    const old = ui.roster.querySelector("li.me");
    const item = rosterItem(me.phoneNumber || "", me.nickname, me.avatar, true);
    if (old) old.replaceWith(item);
    else ui.roster.prepend(item);
  }

  function clientStateChanged(info) {
    const phoneNumber = String(info.phoneNumber);
    const nickname = fieldOf(info, "nickname");
    const avatar = fieldOf(info, "avatar");
    const known = roster.get(phoneNumber);
    if (info.status === "OFFLINE") {
      if (!known) return;
      known.item.remove();
      known.option.remove();
      roster.delete(phoneNumber);
      typingStopped(phoneNumber);
      notice((known.nickname || phoneNumber) + " is OFFLINE", "presence");
      return;
    }
    const item = rosterItem(phoneNumber, nickname, avatar, false);
    const option = element("option", "", nickname || phoneNumber);
    option.value = phoneNumber;
    if (known) {
      const wasChosen = ui.to.value === phoneNumber;
      known.item.replaceWith(item);
      known.option.replaceWith(option);
      if (wasChosen) chooseRecipient(phoneNumber);
      if (known.nickname !== nickname) {
        notice((known.nickname || phoneNumber) + " is now " + (nickname || phoneNumber), "presence");
      }
    } else {
      ui.roster.append(item);
      ui.to.append(option);
      notice((nickname || phoneNumber) + " is ONLINE", "presence");
    }
    roster.set(phoneNumber, { nickname, avatar, item, option });
  }

  function chooseRecipient(phoneNumber) {
    ui.to.value = roster.has(phoneNumber) ? phoneNumber : "";
    for (const item of ui.roster.children) {
      item.classList.toggle("chosen", item.dataset.phoneNumber === ui.to.value);
    }
    ui.text.focus();
  }

  // ---- typing -------------------------------------------------------------------------------

  function showTypists() {
    const names = [...typists].map(([from, typist]) => nameOf(from) + (typist.direct ? " (to you)" : ""));
    let text = "";
    if (names.length === 1) text = names[0] + " is typing\u2026";
    else if (names.length === 2) text = names[0] + " and " + names[1] + " are typing\u2026";
    else if (names.length > 2) text = names.length + " people are typing\u2026";
    ui.typing.textContent = visible(text);
  }

  function typingStopped(from) {
    const typist = typists.get(from);
    if (!typist) return;
    clearTimeout(typist.timer);
    typists.delete(from);
    showTypists();
  }

  function typingNoticed(notice) {
    const from = String(notice.from);
    typingStopped(from);
    if (notice.stopped) return;
    const timer = setTimeout(() => typingStopped(from), TYPING_SHOWN_MS);
    typists.set(from, { direct: typeof notice.to === "string" && notice.to !== "", timer });
    showTypists();
  }

  function composerChanged() {
    // Others see "… is typing"; an emptied composer tells them it stopped.
    if (joined) OzWebClient.sendTyping(ui.to.value || undefined, ui.text.value === "");
  }

  // ---- messages -----------------------------------------------------------------------------

  function messageReceived(message) {
    const from = String(message.from);
    typingStopped(from);
    const direct = typeof message.to === "string" && message.to !== "";
    const item = element("li", "message" + (direct ? " direct" : "") + (message.action ? " action" : ""));
    item.dataset.from = from;
    let who = nameOf(from, message.nickname);
    if (direct) who += " \u2192 " + nameOf(message.to) + " (direct)";
    item.append(
      element("span", "time", timeOf(message.ts)),
      element("span", "who", message.action ? "* " + who : who + ":"),
      element("span", "text", message.text),
    );
    appendToLog(item);
  }

  // ---- the connection -----------------------------------------------------------------------

  function connectionStateChanged(state, details) {
    const reason = details && details.reason ? String(details.reason) : "";
    if (state === "ACCESS_GRANTED") {
      const wasJoined = joined;
      joined = true;
      me.phoneNumber = details.phoneNumber || OzWebClient.getPhoneNumber();
      showChat();
      setConnection("online as " + visible(me.nickname), "online");
      if (wasJoined) notice(details.resumed ? "connected again" : "connected again under a new number");
      return;
    }
    if (state === "ACCESS_DENIED") {
      refuse("The hub refused: " + (reason || "access denied"));
      return;
    }
    if (leaving) {
      setConnection("not connected", "offline");
      return;
    }
    if (joined && details && details.retrying) {
      // The library reconnects by itself, resuming the same phone number, until we leave.
      setConnection("reconnecting\u2026", "reconnecting");
      notice("connection lost; reconnecting\u2026");
      return;
    }
    refuse((joined ? "The connection ended" : "Could not reach the hub") + (reason ? ": " + reason : ""));
  }

  function refuse(text) {
    showJoinForm();
    ui.joinError.textContent = visible(text);
  }

  function showJoinForm() {
    joined = false;
    for (const from of [...typists.keys()]) typingStopped(from);
    for (const known of roster.values()) known.option.remove();
    roster.clear();
    ui.roster.replaceChildren();
    ui.log.replaceChildren();
    ui.chat.hidden = true;
    ui.leave.hidden = true;
    ui.join.hidden = false;
    ui.joinButton.disabled = false;
    setConnection("not connected", "offline");
  }

  function showChat() {
    ui.join.hidden = true;
    ui.chat.hidden = false;
    ui.leave.hidden = false;
    ui.lineTitle.textContent = visible(ui.line.value);
    showMe();
  }

  function hubAddress() {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/";
  }

  function chosenAvatar() {
    const chosen = ui.join.querySelector("input[name=avatar]:checked");
    return chosen ? chosen.value : "";
  }

  async function uploadPicture(file) {
    try {
      const name = await OzWebClient.uploadAvatar(await file.arrayBuffer());
      await OzWebClient.updateProperties({ avatar: name });
      me.avatar = name;
      showMe();
    } catch (error) {
      notice("Your picture was not taken: " + visible(error && error.message ? error.message : error));
    }
  }

  async function join(event) {
    event.preventDefault();
    ui.joinError.textContent = "";
    ui.joinButton.disabled = true;
    leaving = false;
    const picture = ui.upload.files && ui.upload.files[0];
    // A picture of one's own is uploaded once joined, and shared then instead of a bundled one.
    me = { phoneNumber: null, nickname: ui.nickname.value.trim(), avatar: picture ? "" : chosenAvatar() };
    const properties = { nickname: me.nickname };
    if (me.avatar) properties.avatar = me.avatar;
    const token = ui.token.value;
    // connect() settles with the first outcome; a refusal has already been shown by then.
    const state = await OzWebClient.connect(hubAddress(), ui.line.value.trim(), properties, token || undefined);
    if (state === "ACCESS_GRANTED" && picture) await uploadPicture(picture);
  }

  function leave() {
    leaving = true;
    OzWebClient.disconnect();
    showJoinForm();
  }

  async function send(event) {
    event.preventDefault();
    const text = ui.text.value;
    if (text.trim() === "") return;
    const to = ui.to.value || undefined;
    ui.text.value = "";
    OzWebClient.sendTyping(to, true);
    try {
      await OzWebClient.sendMessage(text, to);
    } catch (error) {
      ui.text.value = text;
      notice("Not sent: " + visible(error && error.message ? error.message : error));
    }
  }

  function lineFromPath() {
    const match = /^\/line\/(.+)$/.exec(window.location.pathname);  // a line name may hold '/'
    if (!match) return null;
    try {
      return decodeURIComponent(match[1]);
    } catch {
      return null;
    }
  }

  function start() {
    if (typeof OzWebClient === "undefined") {
      ui.joinError.textContent = "The hub's OzWebClient library did not load.";
      return;
    }
    const line = lineFromPath();
    if (line !== null) {
      ui.line.value = line;
      ui.line.readOnly = true;
    }
    OzWebClient.onConnectionStateChanged(connectionStateChanged);
    OzWebClient.onClientStateChanged(clientStateChanged);
    OzWebClient.onMessageReceived(messageReceived);
    OzWebClient.onTyping(typingNoticed);
    ui.join.addEventListener("submit", join);
    ui.composer.addEventListener("submit", send);
    ui.text.addEventListener("input", composerChanged);
    ui.to.addEventListener("change", () => chooseRecipient(ui.to.value));
    ui.leave.addEventListener("click", leave);
    ui.joinButton.disabled = false;
    ui.nickname.focus();
  }

  start();
})();
