// Refreshes each [data-refresh] section from its URL every 2 s; when the server sends it back
// without the attribute (the booking ended) the whole page is loaded again (its actions
// change). The page works without this: it then reloads itself (a <noscript> refresh).
"use strict";
function refresh(section) {
  const url = section.getAttribute("data-refresh");
  if (!url) { return; }
  setTimeout(async () => {
    try {
      const answer = await fetch(url, {credentials: "same-origin", cache: "no-store"});
      if (answer.ok) {
        const holder = document.createElement("div");
        holder.innerHTML = await answer.text();
        const fresh = holder.querySelector("#" + section.id);
        if (fresh && !fresh.hasAttribute("data-refresh")) { location.reload(); return; }  // ended
        if (fresh) { section.replaceWith(fresh); refresh(fresh); return; }
      }
    } catch (error) { /* the network hiccuped: try again */ }
    refresh(section);
  }, 2000);
}
document.querySelectorAll("[data-refresh]").forEach(refresh);
