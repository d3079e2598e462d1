// The page's accessibility checks that need no keyboard: run in the page by tests/web/test_web_accessibility.py.
// Returns a list of [check, element, detail] for every failure, so one run reports all of a page's problems.
() => {
  const failures = [];
  const fail = (check, el, detail) => failures.push([check, el ? describe(el) : "", detail || ""]);

  function describe(el) {
    let text = el.tagName.toLowerCase();
    if (el.id) text += "#" + el.id;
    const name = el.getAttribute("name");
    if (name) text += `[name=${name}]`;
    else if (typeof el.className === "string" && el.className.trim()) {
      text += "." + el.className.trim().split(/\s+/).join(".");
    }
    const words = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return words ? `${text} "${words}"` : text;
  }

  function visible(el) {
    const style = getComputedStyle(el);
    return el.getClientRects().length > 0 && style.visibility !== "hidden" && style.display !== "none";
  }

  function referencedText(el, attribute) {
    const ids = (el.getAttribute(attribute) || "").split(/\s+/).filter(Boolean);
    return ids.map((id) => (document.getElementById(id) || {}).textContent || "").join(" ").trim();
  }

  // 1. Exactly one h1.
  const headings = document.querySelectorAll("h1").length;
  if (headings !== 1) fail("one h1", null, `${headings} h1 elements`);

  // 2. Every form control has an accessible name.
  for (const el of document.querySelectorAll("input, select, textarea, button")) {
    const type = (el.getAttribute("type") || "").toLowerCase();
    if (type === "hidden") continue;
    let name = (el.getAttribute("aria-label") || "").trim() || referencedText(el, "aria-labelledby");
    if (!name && el.labels) name = Array.from(el.labels).map((l) => l.textContent.trim()).join(" ").trim();
    if (!name && (el.tagName === "BUTTON")) name = el.textContent.trim();
    if (!name && ["submit", "button", "reset"].includes(type)) name = (el.value || "").trim();
    if (!name && type === "image") name = (el.getAttribute("alt") || "").trim();
    if (!name) name = (el.getAttribute("title") || "").trim();
    if (!name) fail("form control label", el, "no accessible name");
  }

  // 3. Images and SVG have text alternatives (alt="" marks a decorative image; aria-hidden an SVG).
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) fail("text alternative", img, "img without alt");
  }
  for (const svg of document.querySelectorAll("svg")) {
    if (svg.closest("[aria-hidden=true]") || (svg.parentElement && svg.parentElement.closest("svg"))) continue;
    const named = (svg.getAttribute("aria-label") || "").trim() || referencedText(svg, "aria-labelledby")
      || (svg.querySelector(":scope > title") || {}).textContent;
    if (!named) fail("text alternative", svg, "svg without aria-label, aria-labelledby or <title>");
  }

  // 4. WCAG AA contrast of text (links included) against the background it is drawn on.
  function rgba(value) {
    const match = value.match(/rgba?\(([^)]+)\)/);
    if (!match) return null;
    const parts = match[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  }
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  function background(el) {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== "none") return null;  // a picture behind the text: not computable here
      const colour = rgba(style.backgroundColor);
      if (colour && colour[3] > 0) {
        layers.push(colour);
        if (colour[3] >= 1) break;
      }
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255, 1]);
  }
  function luminance(colour) {
    const channel = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * channel(colour[0]) + 0.7152 * channel(colour[1]) + 0.0722 * channel(colour[2]);
  }
  const checked = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || checked.has(el) || !node.textContent.trim() || !visible(el)) continue;
    checked.add(el);
    if (el.closest("svg, [disabled], [aria-hidden=true], .skip")) continue;  // the skip link shows on focus only
    const style = getComputedStyle(el);
    const fg = rgba(style.color);
    const bg = background(el);
    if (!fg || !bg) continue;
    const ink = fg[3] < 1 ? over(fg, bg) : fg;
    const [light, dark] = [luminance(ink), luminance(bg)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) fail("contrast", el, `${ratio.toFixed(2)}:1 < ${needed}:1 (${style.color} on rgb(${bg.slice(0, 3).map(Math.round).join(", ")}))`);
  }
  return failures;
}
