// fleetfit report: draws the fleet map from the JSON island and shows what runs in a cell.
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('fleetfit-data').textContent);
  const NS = 'http://www.w3.org/2000/svg'; // SVG's namespace name, not an address fetched
  const STATE = ['free', 'used', 'busy', 'unhealthy', 'reserved'];
  const FILL = { free: '#eeeeee', busy: 'url(#busy)', unhealthy: '#000000', reserved: '#ffffff' };
  const CELL = 14;
  const STEP = CELL + 2;
  const COLUMNS = 64;
  const groups = document.getElementById('groups');
  const details = document.getElementById('details');

  function svg(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(name, text, parent) {
    const node = document.createElement(name);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // The hatching of busy GPUs, defined once for every map.
  const defs = svg('svg', { width: 0, height: 0, 'aria-hidden': 'true' });
  const pattern = svg('pattern', { id: 'busy', width: 4, height: 4, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, svg('defs', {}, defs));
  svg('rect', { width: 4, height: 4, fill: '#cccccc' }, pattern);
  svg('rect', { width: 2, height: 4, fill: '#666666' }, pattern);
  groups.before(defs);

  const deploymentOf = (r) => data.deployments[data.replicas[r][0]];

  // One GPU as a cell: a state's fill, or its workers stacked by memory share.
  function gpuCell(parent, x, n, g) {
    const gpu = data.nodes[n][4][g];
    const state = STATE[gpu[1]];
    const cell = svg('g', { 'data-cell': '', 'data-n': n, 'data-g': g, tabindex: 0, role: 'img' }, parent);
    const names = gpu[3].map(([r]) => deploymentOf(r)[0]);
    cell.setAttribute('aria-label', `${data.nodes[n][0]} GPU ${gpu[0]}: ${names.length ? names.join(', ') : state}`);
    svg('rect', { x, y: 0, width: CELL, height: CELL, fill: FILL[state] || FILL.free, stroke: '#333', 'stroke-width': 0.5, 'stroke-dasharray': state === 'reserved' ? '2 1' : 'none' }, cell);
    let top = CELL;
    for (const [r, mib] of gpu[3]) {
      const h = Math.max(1, Math.min(top, (CELL * mib) / Math.max(gpu[2], 1)));
      top -= h;
      svg('rect', { x, y: top, width: CELL, height: h, fill: deploymentOf(r)[1] }, cell);
    }
  }

  // One node as a cell: stripes by how its GPUs are used (a shared GPU by memory share).
  function nodeCell(parent, x, y, n) {
    const node = data.nodes[n];
    const share = new Map();
    let used = 0;
    for (const gpu of node[4]) {
      if (gpu[3].length) used++;
      let left = 1;
      for (const [r, mib] of gpu[3]) {
        const part = Math.min(left, mib / Math.max(gpu[2], 1));
        left -= part;
        const colour = deploymentOf(r)[1];
        share.set(colour, (share.get(colour) || 0) + part);
      }
      const fill = FILL[STATE[gpu[1]]] || FILL.free;
      share.set(fill, (share.get(fill) || 0) + left);
    }
    const cell = svg('g', { 'data-cell': '', 'data-n': n, tabindex: 0, role: 'button' }, parent);
    cell.setAttribute('aria-label', `${node[0]}: ${node[4].length} GPUs, ${used} used`);
    svg('rect', { x, y, width: CELL, height: CELL, fill: FILL.free, stroke: '#333', 'stroke-width': 0.5 }, cell);
    let at = x;
    for (const [fill, part] of share) {
      const w = (CELL * part) / node[4].length;
      if (w > 0) svg('rect', { x: at, y, width: w, height: CELL, fill }, cell);
      at += w;
    }
  }

  function draw(by) {
    const key = { type: 1, zone: 2, rack: 3 }[by];
    const members = new Map();
    data.nodes.forEach((node, n) => {
      if (!members.has(node[key])) members.set(node[key], []);
      members.get(node[key]).push(n);
    });
    groups.textContent = '';
    let cells = 0;
    for (const name of [...members.keys()].sort()) {
      const nodes = members.get(name);
      let gpus = 0;
      let used = 0;
      for (const n of nodes) for (const gpu of data.nodes[n][4]) { gpus++; if (gpu[3].length) used++; }
      const box = html('div', undefined, groups);
      html('h3', `${name}: ${nodes.length} nodes, ${gpus} GPUs, ${used} used`, box);
      if (data.per_node) {
        const rows = Math.ceil(nodes.length / COLUMNS);
        const map = svg('svg', { width: Math.min(nodes.length, COLUMNS) * STEP, height: rows * STEP }, box);
        nodes.forEach((n, i) => nodeCell(map, (i % COLUMNS) * STEP, Math.floor(i / COLUMNS) * STEP, n));
        cells += nodes.length;
      } else {
        const list = html('div', undefined, box);
        list.className = 'nodes';
        for (const n of nodes) {
          const item = html('span', undefined, list);
          item.className = 'node';
          html('span', data.nodes[n][0], item);
          const map = svg('svg', { width: data.nodes[n][4].length * STEP, height: CELL }, item);
          data.nodes[n][4].forEach((_, g) => gpuCell(map, g * STEP, n, g));
          cells += data.nodes[n][4].length;
        }
      }
    }
    groups.dataset.cells = cells;
  }

  // Rows of the details table: what runs on each of the GPUs `which` of node `n`.
  function gpuRows(n, which, table) {
    for (const g of which) {
      const gpu = data.nodes[n][4][g];
      if (!gpu[3].length) {
        const row = html('tr', undefined, table);
        html('td', `GPU ${gpu[0]}`, row);
        html('td', STATE[gpu[1]], row).colSpan = 8;
      }
      for (const [r] of gpu[3]) {
        const rep = data.replicas[r];
        const row = html('tr', undefined, table);
        html('td', `GPU ${gpu[0]}`, row);
        html('td', `${data.deployments[rep[0]][0]} #${rep[1]}`, row);
        html('td', `${rep[2]} (${rep[3]})`, row);
        html('td', `${rep[4]} MiB`, row);
        html('td', `${rep[5]} MiB`, row);
        html('td', `${rep[6]} MiB`, row);
        html('td', `${rep[7]} MiB`, row);
        html('td', rep[8] === null ? '-' : `${rep[8]}`, row);
        html('td', rep[9] === null ? '-' : rep[9], row);
      }
    }
  }

  function show(cell, zoom) {
    const n = Number(cell.dataset.n);
    const node = data.nodes[n];
    details.textContent = '';
    const gpus = zoom || cell.dataset.g === undefined ? node[4].map((_, g) => g) : [Number(cell.dataset.g)];
    html('strong', `${node[0]} (${node[1]}, zone ${node[2]}, rack ${node[3]})`, details);
    if (data.per_node && !zoom) {
      html('p', `${cell.getAttribute('aria-label')}. Click or press Enter for its GPUs.`, details);
      return;
    }
    if (zoom) {
      const map = svg('svg', { width: node[4].length * STEP, height: CELL }, details);
      node[4].forEach((_, g) => gpuCell(map, g * STEP, n, g));
    }
    const table = html('table', undefined, details);
    const head = html('tr', undefined, table);
    for (const title of ['GPU', 'replica', 'shape', 'reserved', 'weights', 'KV cache', 'runtime', 'KV tokens', 'requests at once']) html('th', title, head);
    gpuRows(n, gpus, table);
  }

  const cellOf = (event) => event.target.closest && event.target.closest('[data-cell]');
  for (const kind of ['mouseover', 'focusin']) {
    groups.addEventListener(kind, (event) => { const cell = cellOf(event); if (cell) show(cell, false); });
  }
  groups.addEventListener('click', (event) => { const cell = cellOf(event); if (cell) show(cell, true); });
  groups.addEventListener('keydown', (event) => {
    const cell = cellOf(event);
    if (cell && (event.key === 'Enter' || event.key === ' ')) { event.preventDefault(); show(cell, true); }
  });
  for (const input of document.querySelectorAll('input[name=group]')) {
    input.addEventListener('change', () => draw(input.value));
  }
  if (window.PerformanceObserver) {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (entry.name === 'first-contentful-paint') document.body.dataset.firstPaint = Math.round(entry.startTime);
    }).observe({ type: 'paint', buffered: true });
  }
  draw('type');
  document.body.dataset.mapDrawnMs = Math.round(performance.now());
  // `report.html#node=NAME` opens on that node's GPUs (a link to send someone).
  let wanted = null;
  try {
    if (location.hash.startsWith('#node=')) wanted = decodeURIComponent(location.hash.slice(6));
  } catch (e) {
    wanted = null; // a malformed escape names no node
  }
  const at = wanted === null ? -1 : data.nodes.findIndex((node) => node[0] === wanted);
  if (at >= 0) show(groups.querySelector(`[data-cell][data-n="${at}"]`), true);
})();
