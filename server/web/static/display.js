// The town-hall display (/anzeige): fetch the page again every minute and swap in its figures.
// A reload (meta refresh) would show the browser's error page on a screen nobody touches when
// the network drops for a moment; this keeps the last figures up instead, says so, and tries
// again at the next minute.  Without JavaScript the page's <noscript> meta refresh reloads it.
(() => {
  "use strict";
  const seconds = Number(document.body.dataset.refreshS) || 60;
  const stale = document.getElementById("stale");

  async function refresh() {
    let text;
    try {
      const answer = await fetch(location.pathname, { cache: "no-store", credentials: "same-origin" });
      if (!answer.ok) throw new Error(`status ${answer.status}`);
      text = await answer.text();
    } catch (error) {
      if (stale) stale.hidden = false;
      return false;
    }
    const fresh = new DOMParser().parseFromString(text, "text/html");
    for (const id of ["figures", "foot"]) {
      const shown = document.getElementById(id);
      const next = fresh.getElementById(id);
      if (shown && next) shown.replaceWith(document.importNode(next, true));
    }
    if (stale) stale.hidden = true;
    return true;
  }

  window.kkDisplay = { refresh };
  setInterval(refresh, seconds * 1000);
})();
