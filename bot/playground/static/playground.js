// The playground page: shows what the server draws, and sends back what the person does.
// The server renders every message, App Home and modal from the bot's Block Kit
// (bot/playground/render.py); this script swaps those fragments in when they change (a
// long poll of /_playground/api/state) and turns clicks, typing and submissions into the
// small JSON requests of /_playground/api/*, which the server sends on to the bot as Slack.
"use strict";

(function () {
  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
  const teamChannel = document.body.dataset.teamChannel;
  const teamChannelName = document.body.dataset.teamChannelName;
  const store = window.sessionStorage;

  const state = {
    user: store.getItem("playground.user") || $("#user").value,
    view: store.getItem("playground.view") || "channel",
    html: {},
    modal: null,
    returnFocus: null,
    pollToken: 0,
    problemsSeen: 0,
  };
  if (!$$("#user option").some((o) => o.value === state.user)) state.user = $("#user").value;
  $("#user").value = state.user;

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // -- talking to the server ------------------------------------------------------------------

  async function post(path, data) {
    let body;
    try {
      const response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ user: state.user }, data)),
      });
      try {
        body = await response.json();
      } catch (error) {
        body = { ok: false, problem: "The playground answered HTTP " + response.status };
      }
    } catch (error) {
      body = { ok: false, problem: "The playground is not answering." };
    }
    if (body.problem) notice(body.problem);
    else if (body.notice) notice(body.notice);
    return body;
  }

  async function poll() {
    const token = ++state.pollToken;
    let since = 0;
    while (token === state.pollToken) {
      try {
        const url = "/_playground/api/state?user=" + encodeURIComponent(state.user) + "&since=" + since;
        const response = await fetch(url, { cache: "no-store" });
        if (token !== state.pollToken) return;
        if (!response.ok) throw new Error("HTTP " + response.status);
        const data = await response.json();
        if (token !== state.pollToken) return;
        apply(data);
        since = data.version;
        $("#offline").hidden = true;
      } catch (error) {
        if (token !== state.pollToken) return;
        $("#offline").hidden = false;
        await sleep(1000);
      }
    }
  }

  let noticeTimer = null;
  function notice(text) {
    const box = $("#notice");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  // -- drawing ------------------------------------------------------------------------------------

  function apply(data) {
    const dmChanged = swap("dm", data.dm);
    swap("channel", data.channel);
    swap("home", data.home);
    if (dmChanged && state.view !== "dm" && state.html.loaded) $(".nav[data-go=dm] .unread").hidden = false;
    state.html.loaded = true;
    drawModal(data.modal);
    drawProblems(data.problems);
    const latency = $("#latency");
    if (document.activeElement !== latency) latency.value = String(data.sandbox.api_latency);
  }

  function swap(id, html) {
    if (state.html[id] === html) return false;
    const pane = document.getElementById(id);
    const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
    const focus = focusKey(pane);
    pane.innerHTML = html;
    state.html[id] = html;
    if (atBottom && id !== "home") pane.scrollTop = pane.scrollHeight;
    restoreFocus(pane, focus);
    return true;
  }

  // Which control had the focus, by where it is in the blocks (so a redraw can keep it).
  function focusKey(root) {
    const active = document.activeElement;
    if (!active || !root.contains(active)) return null;
    const surface = active.closest("[data-surface]");
    const block = active.closest("[data-block-index]");
    const element = active.closest("[data-element-index]");
    if (!surface || !block || !element) return null;
    return [surface.dataset.surface, block.dataset.blockIndex, element.dataset.elementIndex];
  }

  function restoreFocus(root, key) {
    if (!key) return;
    for (const surface of $$("[data-surface]", root)) {
      if (surface.dataset.surface !== key[0]) continue;
      const block = $('[data-block-index="' + key[1] + '"]', surface);
      const element = block && $('[data-element-index="' + key[2] + '"]', block);
      const target = element && (element.matches("input,select,textarea,button,a") ? element : $("input,select,textarea,button,a", element));
      if (target) target.focus();
      return;
    }
  }

  function drawProblems(problems) {
    const box = $("#problems");
    if (!problems.length || problems.length <= state.problemsSeen) {
      box.hidden = true;
      return;
    }
    const list = $("ul", box);
    list.textContent = "";
    for (const problem of problems.slice(state.problemsSeen)) {
      const item = document.createElement("li");
      const when = new Date(problem.time * 1000).toLocaleTimeString();
      item.textContent = when + "  " + problem.text;
      list.appendChild(item);
    }
    box.dataset.count = String(problems.length);
    box.hidden = false;
  }

  $("#problems-dismiss").addEventListener("click", () => {
    state.problemsSeen = Number($("#problems").dataset.count || 0);
    $("#problems").hidden = true;
  });

  // -- the modal ----------------------------------------------------------------------------------

  function drawModal(modal) {
    const layer = $("#modal-layer");
    if (!modal) {
      if (state.modal) {
        layer.textContent = "";
        layer.hidden = true;
        state.modal = null;
        if (state.returnFocus && document.contains(state.returnFocus)) state.returnFocus.focus();
        else $("#composer").focus();
      }
      return;
    }
    if (state.modal && state.modal.view_id === modal.view_id && state.modal.hash === modal.hash) return;
    const sameView = state.modal && state.modal.view_id === modal.view_id;
    const kept = sameView ? editedValues(layer) : null;
    const focus = sameView ? focusKey(layer) : null;
    if (!state.modal) state.returnFocus = document.activeElement;
    layer.innerHTML = modal.html;
    layer.hidden = false;
    state.modal = modal;
    if (kept) restoreValues(layer, kept);
    if (focus) restoreFocus(layer, focus);
    else if (!sameView) {
      const first = $(".modal-body input, .modal-body select, .modal-body textarea, .modal-body button, .modal-body a", layer);
      (first || $("[data-modal=close]", layer)).focus();
    }
  }

  function controlOf(element) {
    return element.matches("input,select,textarea") ? element : $("input,select,textarea", element);
  }

  // What the person changed in the modal, so a redraw of the same view keeps it (as Slack
  // keeps the inputs of blocks that survive a views.update).
  function editedValues(root) {
    const kept = {};
    for (const element of $$("[data-kind][data-edited]", root)) {
      const block = element.closest("[data-block-id]");
      const key = block.dataset.blockId + "\u0000" + element.dataset.actionId;
      kept[key] = { value: controlOf(element).value, selected: element.dataset.selected };
    }
    return kept;
  }

  function restoreValues(root, kept) {
    for (const element of $$("[data-kind]", root)) {
      const block = element.closest("[data-block-id]");
      const value = kept[block.dataset.blockId + "\u0000" + element.dataset.actionId];
      if (!value) continue;
      controlOf(element).value = value.value;
      if (element.dataset.kind === "external_select") element.dataset.selected = value.selected || "";
      element.dataset.edited = "1";
    }
  }

  // view.state.values as the server wants them: {block_id: {action_id: value}}.
  function collectValues(root) {
    const values = {};
    for (const element of $$("[data-kind]", root)) {
      const block = element.closest("[data-block-id]");
      const actionId = element.dataset.actionId;
      if (!block || !actionId) continue;
      let value;
      if (element.dataset.kind === "plain_text_input") value = element.value;
      else if (element.dataset.kind === "static_select") value = element.value || null;
      else if (element.dataset.kind === "external_select") value = element.dataset.selected ? JSON.parse(element.dataset.selected) : null;
      else continue;
      (values[block.dataset.blockId] = values[block.dataset.blockId] || {})[actionId] = value;
    }
    return values;
  }

  function modalElement() {
    return $("#modal-layer .modal");
  }

  async function submitModal() {
    const modal = modalElement();
    if (!modal) return;
    const button = $("[data-modal=submit]", modal);
    $$(".error.client", modal).forEach((e) => e.remove());
    $$("[aria-invalid]", modal).forEach((e) => e.removeAttribute("aria-invalid"));
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    const result = await post("/_playground/api/submit", { view_id: modal.dataset.viewId, values: collectValues(modal) });
    button.disabled = false;
    button.removeAttribute("aria-busy");
    const errors = result.errors || {};
    let first = null;
    for (const [blockId, text] of Object.entries(errors)) {
      const block = $('[data-block-id="' + CSS.escape(blockId) + '"]', modal);
      if (!block) continue;
      const error = document.createElement("div");
      error.className = "error client";
      error.setAttribute("role", "alert");
      error.textContent = text;
      block.appendChild(error);
      const control = $("input,select,textarea", block);
      if (control) {
        control.setAttribute("aria-invalid", "true");
        first = first || control;
      }
    }
    if (first) first.focus();
  }

  async function closeModal() {
    const modal = modalElement();
    if (!modal) return;
    await post("/_playground/api/close", { view_id: modal.dataset.viewId });
  }

  // -- buttons and selects --------------------------------------------------------------------------

  function where(element) {
    const surface = element.closest("[data-surface]");
    const block = element.closest("[data-block-index]");
    const item = element.closest("[data-element-index]");
    const data = {
      surface: JSON.parse(surface.dataset.surface),
      block: Number(block.dataset.blockIndex),
      element: Number(item.dataset.elementIndex),
    };
    if (data.surface.kind === "view") data.values = collectValues(surface);
    return data;
  }

  function confirmFirst(template) {
    if (!template) return Promise.resolve(true);
    const dialog = $("#confirm");
    const content = template.content;
    dialog.textContent = "";
    const heading = document.createElement("h2");
    heading.id = "confirm-heading";
    heading.innerHTML = $(".confirm-title", content).innerHTML;
    const text = document.createElement("div");
    text.innerHTML = $(".confirm-text", content).innerHTML;
    const row = document.createElement("div");
    row.className = "confirm-buttons";
    const no = document.createElement("button");
    no.type = "button";
    no.className = "btn";
    no.innerHTML = $(".confirm-no", content).innerHTML;
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "btn btn-" + (template.dataset.style === "danger" ? "danger" : "primary");
    yes.innerHTML = $(".confirm-yes", content).innerHTML;
    row.append(no, yes);
    dialog.append(heading, text, row);
    return new Promise((resolve) => {
      const done = (answer) => { dialog.close(); resolve(answer); };
      yes.addEventListener("click", () => done(true));
      no.addEventListener("click", () => done(false));
      dialog.addEventListener("cancel", () => resolve(false), { once: true });
      dialog.showModal();
      no.focus();
    });
  }

  async function press(element) {
    const template = element.parentElement.querySelector("template.confirm");
    if (element.dataset.kind === "url-button") {
      // Slack opens the link and sends the click to the bot as block_actions; the bot may
      // need the click first (it arms the link), so the tab opens now and navigates after.
      if (!(await confirmFirst(template))) return;
      const tab = window.open("about:blank", "_blank");
      await post("/_playground/api/action", where(element));
      if (tab) {
        tab.opener = null;
        tab.location.href = element.href;
      } else {
        window.open(element.href, "_blank", "noopener");
      }
      return;
    }
    if (!(await confirmFirst(template))) return;
    element.disabled = true;
    element.setAttribute("aria-busy", "true");
    try {
      await post("/_playground/api/action", where(element));
    } finally {
      element.disabled = false;
      element.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target;
    const button = target.closest("[data-kind=button], [data-kind=url-button]");
    if (button) {
      event.preventDefault();
      press(button);
      return;
    }
    const go = target.closest("[data-go]");
    if (go) {
      show(go.dataset.go);
      return;
    }
    const control = target.closest("[data-modal]");
    if (control) {
      if (control.dataset.modal === "submit") submitModal();
      else closeModal();
      return;
    }
    const shortcut = target.closest("[data-shortcut]");
    if (shortcut) {
      toggleShortcuts(false);
      post("/_playground/api/shortcut", { callback_id: shortcut.dataset.shortcut });
      return;
    }
    if (target.closest("#shortcuts")) {
      toggleShortcuts($("#shortcut-menu").hidden);
      return;
    }
    if (!target.closest("#shortcut-menu")) toggleShortcuts(false);
  });

  document.addEventListener("change", (event) => {
    const element = event.target;
    if (element.id === "user") {
      switchUser(element.value);
    } else if (element.id === "latency") {
      post("/_playground/sandbox/latency", { seconds: Number(element.value) });
    } else if (element.dataset.kind === "static_select") {
      element.dataset.edited = "1";
      if (element.dataset.dispatch === "true") post("/_playground/api/action", Object.assign(where(element), { value: element.value }));
    }
  });

  document.addEventListener("input", (event) => {
    const element = event.target;
    if (element.dataset.kind === "plain_text_input") element.dataset.edited = "1";
    const combo = element.closest(".combo");
    if (combo) typed(combo);
  });

  // -- external selects: options come from the bot as the person types (block_suggestion) --

  const comboTimers = new WeakMap();
  let comboSequence = 0;

  function typed(combo) {
    const input = $("input", combo);
    combo.dataset.edited = "1";
    if (!input.value) combo.dataset.selected = "";
    combo.dataset.sequence = String(++comboSequence); // what is on its way is out of date now
    clearTimeout(comboTimers.get(combo));
    comboTimers.set(combo, setTimeout(() => loadOptions(combo, input.value), 150));
  }

  // Options for ``query``; on a click, the chosen option's text asks for everything (as Slack).
  async function loadOptions(combo, query) {
    const input = $("input", combo);
    const selected = combo.dataset.selected ? JSON.parse(combo.dataset.selected) : null;
    if (query === undefined) query = selected && input.value === selected.text.text ? "" : input.value;
    const minimum = Number(combo.dataset.minQuery || 0);
    if (query.length < minimum) {
      showOptions(combo, [], query ? "Type " + (minimum - query.length) + " more characters" : null);
      return;
    }
    const sequence = ++comboSequence;
    combo.dataset.sequence = String(sequence);
    const target = where(combo);
    const result = await post("/_playground/api/options", {
      view_id: target.surface.view_id,
      block: target.block,
      element: target.element,
      query: query,
      values: target.values,
    });
    if (combo.dataset.sequence !== String(sequence) || document.activeElement !== input) return;
    showOptions(combo, result.options || [], "No results");
  }

  function showOptions(combo, options, emptyText) {
    const input = $("input", combo);
    const list = $(".listbox", combo);
    list.textContent = "";
    combo.options = options;
    options.forEach((option, index) => {
      const item = document.createElement("li");
      item.setAttribute("role", "option");
      item.id = list.id + "-" + index;
      item.dataset.index = String(index);
      item.textContent = (option.text && option.text.text) || option.value;
      list.appendChild(item);
    });
    if (!options.length && emptyText) {
      const item = document.createElement("li");
      item.className = "listbox-empty";
      item.textContent = emptyText;
      list.appendChild(item);
    }
    const open = list.children.length > 0;
    list.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    input.removeAttribute("aria-activedescendant");
    if (options.length) activate(combo, 0);
  }

  function activate(combo, index) {
    const items = $$("[role=option]", combo);
    items.forEach((item, i) => item.setAttribute("aria-selected", i === index ? "true" : "false"));
    const item = items[index];
    if (item) {
      $("input", combo).setAttribute("aria-activedescendant", item.id);
      item.scrollIntoView({ block: "nearest" });
    }
    combo.dataset.active = String(index);
  }

  function closeOptions(combo) {
    const list = $(".listbox", combo);
    list.hidden = true;
    $("input", combo).setAttribute("aria-expanded", "false");
  }

  function choose(combo, index) {
    const option = (combo.options || [])[index];
    if (!option) return;
    const input = $("input", combo);
    combo.dataset.selected = JSON.stringify(option);
    combo.dataset.edited = "1";
    input.value = (option.text && option.text.text) || option.value;
    closeOptions(combo);
    if (combo.dataset.dispatch === "true") {
      post("/_playground/api/action", Object.assign(where(combo), { option: option }));
    }
  }

  document.addEventListener("mousedown", (event) => {
    const item = event.target.closest(".combo [role=option]");
    if (!item) return;
    event.preventDefault(); // keep the focus in the input
    choose(item.closest(".combo"), Number(item.dataset.index));
  });

  // A click opens the options (a select needing no query shows them all), as Slack does.
  document.addEventListener("click", (event) => {
    const combo = event.target.closest && event.target.closest(".combo");
    if (combo && event.target.matches("input") && $(".listbox", combo).hidden) loadOptions(combo);
  });

  document.addEventListener("focusout", (event) => {
    const combo = event.target.closest && event.target.closest(".combo");
    if (!combo || !event.target.matches("input")) return;
    setTimeout(() => {
      if (combo.contains(document.activeElement)) return;
      closeOptions(combo);
      const selected = combo.dataset.selected ? JSON.parse(combo.dataset.selected) : null;
      $("input", combo).value = selected ? selected.text.text : ""; // as Slack: only a chosen option stays
    }, 150);
  });

  // -- keyboard ---------------------------------------------------------------------------------------

  document.addEventListener("keydown", (event) => {
    const combo = event.target.closest && event.target.closest(".combo");
    if (combo && event.target.matches("input")) {
      const list = $(".listbox", combo);
      const count = $$("[role=option]", combo).length;
      const active = Number(combo.dataset.active || 0);
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (list.hidden) loadOptions(combo);
        else if (count) activate(combo, (active + 1) % count);
        return;
      }
      if (event.key === "ArrowUp" && count && !list.hidden) {
        event.preventDefault();
        activate(combo, (active - 1 + count) % count);
        return;
      }
      if (event.key === "Enter" && !list.hidden && count) {
        event.preventDefault();
        choose(combo, active);
        return;
      }
      if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        closeOptions(combo);
        return;
      }
    }
    const modal = modalElement();
    if (modal && event.key === "Escape" && !$("#confirm").open) {
      event.preventDefault();
      closeModal();
      return;
    }
    if (modal && event.key === "Tab") trapFocus(modal, event);
    if (event.key === "Escape") toggleShortcuts(false);
  });

  function trapFocus(modal, event) {
    const focusable = $$("a[href],button:not([disabled]),input,select,textarea,[tabindex='0']", modal).filter((e) => !e.closest("[hidden]"));
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && (document.activeElement === first || !modal.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !modal.contains(document.activeElement))) {
      event.preventDefault();
      first.focus();
    }
  }

  // -- the composer -------------------------------------------------------------------------------------

  const composer = $("#composer");

  function currentChannel() {
    return state.view === "dm" ? "D" + state.user : teamChannel;
  }

  function updateUsage() {
    const word = composer.value.split(/\s/)[0];
    const show = composer.value.startsWith("/") && ("/cyclr".startsWith(word) || word === "/cyclr");
    $("#usage").hidden = !show;
  }

  async function send() {
    const text = composer.value.trim();
    if (!text) return;
    composer.value = "";
    updateUsage();
    const result = await post("/_playground/api/message", { channel: currentChannel(), text: text });
    if (!result.ok && !result.problem) composer.value = text;
  }

  composer.addEventListener("input", updateUsage);
  composer.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $("#composer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });

  function toggleShortcuts(open) {
    $("#shortcut-menu").hidden = !open;
    $("#shortcuts").setAttribute("aria-expanded", open ? "true" : "false");
    if (open) $("#shortcut-menu button").focus();
  }

  // -- views and people ---------------------------------------------------------------------------------

  function show(view) {
    state.view = view;
    store.setItem("playground.view", view);
    const app = view === "dm" || view === "home";
    for (const pane of ["channel", "dm", "home"]) document.getElementById(pane).hidden = pane !== view;
    $$(".nav").forEach((nav) => {
      const current = nav.dataset.go === view || (app && nav.dataset.go === "dm");
      if (current) nav.setAttribute("aria-current", "page");
      else nav.removeAttribute("aria-current");
    });
    $(".tabs").hidden = !app;
    $("#tab-home").setAttribute("aria-selected", view === "home" ? "true" : "false");
    $("#tab-dm").setAttribute("aria-selected", view === "dm" ? "true" : "false");
    $("#pane-title").textContent = app ? "Cyclr" : "# " + teamChannelName;
    $("#composer-form").hidden = view === "home";
    const label = view === "dm" ? "Message Cyclr" : "Message # " + teamChannelName;
    $("#composer-label").textContent = label;
    composer.placeholder = label + " (try /cyclr help)";
    if (view === "dm") $(".nav[data-go=dm] .unread").hidden = true;
    const pane = document.getElementById(view);
    if (view !== "home") pane.scrollTop = pane.scrollHeight;
    if (view === "home") post("/_playground/api/home", {}); // Slack sends app_home_opened each time
  }

  function switchUser(user) {
    state.user = user;
    store.setItem("playground.user", user);
    state.html = {};
    state.modal = null;
    $("#modal-layer").textContent = "";
    $("#modal-layer").hidden = true;
    show(state.view);
    poll();
  }

  // The sandbox's controls: each button posts to /_playground/sandbox/<its name>.
  $$("[data-sandbox]").forEach((button) => {
    button.addEventListener("click", () => post("/_playground/sandbox/" + button.dataset.sandbox, {}));
  });

  show(state.view);
  poll();
})();
