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
  // Worded as the terminal client words them.
  const HISTORY_RESET_NOTICE =
    "The hub's history was reset; below is everything it still has (older messages are gone from it)";
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
  // Presence changes are told in batches: the library tells a (re)connect's roster all at once,
  // before anything else the hub sent after it. "first": the roster found on joining, shown in
  // the list but not told as arrivals; "again": what changed while reconnecting; "live": as it comes.
  let presencePhase = "live";
  let rosterShown = false;  // the roster found on joining has been received since the Join button
  let heldChanges = [];     // [{info, known}] of the batch not yet told
  let flushQueued = false;
  // The conversation ("" the line, else a phone number) last told that this page is typing, or null.
  let typingTo = null;

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

  function optionFor(phoneNumber, nickname) {
    const option = element("option", "", nickname || phoneNumber);
    option.value = phoneNumber;
    return option;
  }

  function clientStateChanged(info) {
    const phoneNumber = String(info.phoneNumber);
    const nickname = fieldOf(info, "nickname");
    const avatar = fieldOf(info, "avatar");
    const known = roster.get(phoneNumber);
    heldChanges.push({ info, known });
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(tellPresence);
    }
    if (info.status === "OFFLINE") {
      if (!known) return;
      known.item.remove();
      roster.delete(phoneNumber);
      typingStopped(phoneNumber);
      if (typingTo === phoneNumber) typingTo = null;  // the hub relays nothing to someone gone
      if (ui.to.value === phoneNumber) {
        // Still chosen, so what was being written to them is not sent to everyone unnoticed.
        const left = optionFor(phoneNumber, (known.nickname || phoneNumber) + " (left)");
        left.className = "left";
        left.dataset.nickname = known.nickname || phoneNumber;
        known.option.replaceWith(left);
        ui.to.value = phoneNumber;
      } else {
        known.option.remove();
      }
      return;
    }
    const item = rosterItem(phoneNumber, nickname, avatar, false);
    const option = optionFor(phoneNumber, nickname);
    if (known) {
      const wasChosen = ui.to.value === phoneNumber;
      known.item.replaceWith(item);
      known.option.replaceWith(option);
      if (wasChosen) showRecipient(phoneNumber);
    } else {
      ui.roster.append(item);
      ui.to.append(option);
    }
    roster.set(phoneNumber, { nickname, avatar, item, option });
  }

  /**
   * Tell the presence changes held so far: none for the roster found on joining; after a
   * reconnect, a departure and an arrival with the same properties as one person given a new
   * number (a hub that restarted without its store), followed by the "To" list, and not told.
   */
  function tellPresence() {
    flushQueued = false;
    const changes = heldChanges;
    heldChanges = [];
    const phase = presencePhase;
    presencePhase = "live";
    if (phase === "first") {
      rosterShown = true;
      return;
    }
    const renumbered = new Set();
    if (phase === "again") {
      for (const departure of changes) {
        if (departure.info.status !== "OFFLINE" || !departure.known) continue;
        const same = JSON.stringify(departure.info.properties);
        const arrival = changes.find((change) => !renumbered.has(change) && change.info.status === "ONLINE" &&
          !change.known && JSON.stringify(change.info.properties) === same);
        if (!arrival) continue;
        renumbered.add(departure).add(arrival);
        const from = String(departure.info.phoneNumber);
        const to = String(arrival.info.phoneNumber);
        if (ui.to.value === from && roster.has(to)) showRecipient(to);
      }
    }
    for (const change of changes) {
      if (!renumbered.has(change)) tellChange(change.info, change.known);
    }
  }

  function tellChange(info, known) {
    const phoneNumber = String(info.phoneNumber);
    const nickname = fieldOf(info, "nickname");
    if (info.status === "OFFLINE") {
      if (known) notice((known.nickname || phoneNumber) + " is OFFLINE", "presence");
    } else if (!known) {
      notice((nickname || phoneNumber) + " is ONLINE", "presence");
    } else if (known.nickname !== nickname) {
      notice((known.nickname || phoneNumber) + " is now " + (nickname || phoneNumber), "presence");
    }
  }

  /** Before anything else the hub sent is shown: the presence it told first is told first. */
  function presenceBefore() {
    if (heldChanges.length || presencePhase !== "live") tellPresence();
  }

  /** The "To" list and the list's highlight show `phoneNumber` (or everyone). */
  function showRecipient(phoneNumber) {
    ui.to.value = roster.has(phoneNumber) ? phoneNumber : "";
    for (const item of ui.roster.children) {
      item.classList.toggle("chosen", item.dataset.phoneNumber === ui.to.value);
    }
    // Someone who left stays in the list only while chosen.
    for (const left of ui.to.querySelectorAll("option.left")) {
      if (left.value !== ui.to.value) left.remove();
    }
  }

  function chooseRecipient(phoneNumber) {
    showRecipient(phoneNumber);
    // What was typed to the one chosen before is no longer being typed to them.
    if (typingTo !== null && typingTo !== ui.to.value) {
      if (joined) OzWebClient.sendTyping(typingTo || undefined, true);
      typingTo = null;
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
    if (!joined) return;
    const to = ui.to.value;
    if (ui.text.value === "") {
      if (typingTo !== null) OzWebClient.sendTyping(typingTo || undefined, true);
      typingTo = null;
    } else if (to === "" || roster.has(to)) {
      OzWebClient.sendTyping(to || undefined, false);
      typingTo = to;
    }
  }

  // ---- messages -----------------------------------------------------------------------------

  function messageReceived(message) {
    presenceBefore();
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

  // ---- what the hub could not give back ------------------------------------------------------

  function gapHeard(gap) {
    presenceBefore();
    const missing = gap.beforeSeq - gap.afterSeq - 1;
    notice(missing + " earlier " + (gap.direct ? "direct messages" : "messages") + " could not be replayed", "warning");
  }

  function errorHeard(error) {
    presenceBefore();
    // Errors that answer none of the page's requests; those of a typing frame (a typing to
    // someone who has just left, one over the frame rate) matter to nobody, as typing is never resent.
    if (error.code === "unknown_recipient" || error.code === "rate_limited") return;
    notice("the hub says " + error.code + ": " + (error.message || ""), "warning");
  }

  // ---- the connection -----------------------------------------------------------------------

  function connectionStateChanged(state, details) {
    const reason = details && details.reason ? String(details.reason) : "";
    if (state === "ACCESS_GRANTED") {
      const wasJoined = joined;
      joined = true;
      if (heldChanges.length) tellPresence();  // live changes of the connection before
      // Until the hub's roster has come once, whatever the library tells is that roster, not arrivals.
      presencePhase = rosterShown ? "again" : "first";
      me.phoneNumber = details.phoneNumber || OzWebClient.getPhoneNumber();
      showChat();
      setConnection("online as " + visible(me.nickname), "online");
      if (wasJoined) notice(details.resumed ? "connected again" : "connected again under a new number");
      else ui.text.focus();
      // The replay that follows is the new numbering's: what is above belongs to the old one.
      if (details.historyReset) notice(HISTORY_RESET_NOTICE, "warning");
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
    rosterShown = false;
    presencePhase = "live";
    heldChanges = [];
    typingTo = null;
    for (const from of [...typists.keys()]) typingStopped(from);
    for (const known of roster.values()) known.option.remove();
    for (const left of ui.to.querySelectorAll("option.left")) left.remove();
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
    if (to !== undefined && !roster.has(to)) {
      const left = ui.to.selectedOptions[0];
      notice("Not sent: " + (left && left.dataset.nickname ? left.dataset.nickname : to) +
        " has left the line; choose who to send it to in \u201cTo\u201d");
      return;
    }
    ui.text.value = "";
    typingTo = null;  // sendMessage ends the typing there itself
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
    OzWebClient.onGap(gapHeard);
    OzWebClient.onErrorOccured(errorHeard);
    OzWebClient.onSynced(presenceBefore);
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
