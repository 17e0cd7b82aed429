// The alert inbox: when alerts change (Server-Sent Events), fetch the page again and swap the
// inbox in, unless someone is typing a reason in it.
(() => {
  "use strict";
  const inbox = document.getElementById("inbox");
  if (!inbox || !window.EventSource) return;
  let busy = false;

  async function refresh() {
    if (busy || inbox.contains(document.activeElement)) return;
    busy = true;
    try {
      const response = await fetch("/alerts", { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("inbox");
      if (fresh) inbox.replaceChildren(...fresh.childNodes);
    } finally {
      busy = false;
    }
  }

  new EventSource(inbox.dataset.live).addEventListener("alerts", refresh);
})();
