function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function render({ model, el: host }) {
  const root = el("div", "wb-labeler");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // JupyterLab: keys are ours
  const grid = el("div", "wb-labeler-grid");
  const classBar = el("div", "wb-labeler-classes");
  const footer = el("div", "wb-labeler-footer");
  const prev = el("button", "wb-labeler-pager", "\u2039 prev");
  const status = el("span", "wb-labeler-status");
  const next = el("button", "wb-labeler-pager", "next \u203a");
  const hint = el(
    "span",
    "wb-labeler-hint",
    "1\u20139 label \u00b7 \u2190\u2191\u2192\u2193 move \u00b7 n/p page \u00b7 u undo",
  );
  footer.append(prev, next, status, hint);
  root.append(grid, classBar, footer);
  host.append(root);

  // The selection is ours while keys fly; the kernel hears of each move as a message, in
  // order with the label/undo/page ones, and answers "select" when it moves it (undo, page).
  let selected = model.get("cursor");
  const items = () => model.get("items");
  const cursor = () => selected;
  const setCursor = (i) => {
    selected = i;
    drawSelection();
    model.send({ type: "select", cursor: i });
  };
  const goTo = (page) => {
    if (page >= 1 && page <= model.get("pages"))
      model.send({ type: "page", page });
  };
  const columns = () =>
    getComputedStyle(grid).gridTemplateColumns.split(" ").filter(Boolean)
      .length || 1;

  function labelSelected(label) {
    const item = items()[cursor()];
    if (!item) return;
    model.send({ type: "label", key: item.key, label });
    if (cursor() + 1 < items().length) setCursor(cursor() + 1);
    else goTo(model.get("page") + 1);
  }

  function move(delta) {
    const target = cursor() + delta;
    if (target >= 0 && target < items().length) setCursor(target);
  }

  function drawGrid() {
    grid.replaceChildren(
      ...items().map((item, i) => {
        const tile = el("div", "wb-tile");
        tile.dataset.index = String(i);
        tile.dataset.key = item.key;
        tile.title = item.error ? `${item.key}: ${item.error}` : item.key;
        if (item.src) {
          const img = el("img");
          img.src = item.src;
          img.alt = item.key;
          tile.append(img);
        } else {
          tile.append(el("div", "wb-tile-error", "unreadable"));
        }
        const badge = item.label
          ? el("span", "wb-badge", item.label)
          : item.auto
            ? el(
                "span",
                "wb-badge wb-auto",
                `${item.auto} ${Math.round(item.confidence * 100)}%`,
              )
            : el("span", "wb-badge wb-unlabeled", "unlabeled");
        if (item.auto && !item.label)
          badge.title = "auto-label: press a number key to correct it";
        tile.append(badge, el("span", "wb-caption", item.key.split("/").pop()));
        tile.addEventListener("click", () => {
          setCursor(i);
          root.focus();
        });
        return tile;
      }),
    );
    drawSelection();
  }

  function drawSelection() {
    grid.querySelectorAll(".wb-tile").forEach((tile, i) => {
      const on = i === cursor();
      tile.classList.toggle("wb-selected", on);
      if (on && root.contains(document.activeElement))
        tile.scrollIntoView({ block: "nearest" });
    });
    const item = items()[cursor()];
    classBar.querySelectorAll(".wb-class").forEach((button) => {
      button.classList.toggle(
        "wb-current",
        !!item && button.dataset.label === item.label,
      );
    });
  }

  function drawClasses() {
    classBar.replaceChildren(
      ...model.get("classes").map((name, i) => {
        const button = el("button", "wb-class");
        button.dataset.label = name;
        if (i < 9) button.append(el("kbd", "", String(i + 1)));
        button.append(el("span", "", name));
        button.addEventListener("click", () => {
          labelSelected(name);
          root.focus();
        });
        return button;
      }),
    );
    drawSelection();
  }

  function drawFooter() {
    status.textContent = model.get("status");
    prev.disabled = model.get("page") <= 1;
    next.disabled = model.get("page") >= model.get("pages");
  }

  prev.addEventListener("click", () => {
    goTo(model.get("page") - 1);
    root.focus();
  });
  next.addEventListener("click", () => {
    goTo(model.get("page") + 1);
    root.focus();
  });
  root.addEventListener("keydown", (e) => {
    const k = e.key,
      plain = !e.ctrlKey && !e.metaKey && !e.altKey;
    const classes = model.get("classes");
    if (plain && /^[1-9]$/.test(k)) {
      if (Number(k) <= classes.length) labelSelected(classes[Number(k) - 1]);
    } else if (k === "ArrowRight") move(1);
    else if (k === "ArrowLeft") move(-1);
    else if (k === "ArrowDown") move(columns());
    else if (k === "ArrowUp") move(-columns());
    else if (k === "PageDown" || (plain && k === "n"))
      goTo(model.get("page") + 1);
    else if (k === "PageUp" || (plain && k === "p"))
      goTo(model.get("page") - 1);
    else if ((plain && k === "u") || ((e.ctrlKey || e.metaKey) && k === "z")) {
      model.send({ type: "undo" });
    } else return;
    e.preventDefault();
    e.stopPropagation();
  });

  model.on("msg:custom", (msg) => {
    // the kernel moved the selection (undo, new page)
    if (msg.type === "select") setCursor(msg.cursor);
  });
  model.on("msg:custom", (msg) => {
    if (msg.type !== "select") return;
    selected = msg.cursor;
    drawSelection();
  });
  model.on("change:items", drawGrid);
  model.on("change:classes", drawClasses);
  model.on("change:status", drawFooter);
  model.on("change:page", drawFooter);
  model.on("change:pages", drawFooter);
  drawGrid();
  drawClasses();
  drawFooter();
}

export default { render };
