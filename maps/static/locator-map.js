/* Coverage maps of the warm-station locator (maps/layers.py writes the calls).
 *
 * Stations arrive as one gzip-compressed, base64-encoded JSON payload of column arrays, so that
 * 150,000 stations fit in a few megabytes; they are clustered with supercluster and only what
 * is in view becomes markers; a popup's HTML is built only when a station is clicked. Catchment circles are drawn for the stations in view only.
 * Nothing here makes a network request.
 */
(function () {
  "use strict";

  function decode(base64) {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function esc(text) {
    return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]);
  }

  function fromMask(mask, vocabulary) {
    return vocabulary.filter((_, bit) => (mask & (2 ** bit)) !== 0);
  }

  function both(zh, en) {
    return `<span lang="zh-CN">${esc(zh)}</span> <span lang="en" class="en">${esc(en)}</span>`;
  }

  function unitLine(data, opts, i) {
    const lines = [];
    for (const [code, zh, en] of opts.units) {
      const unit = data.units[code];
      if (!unit || !unit.max[i]) continue;
      const free = unit.free[i];
      const figure =
        free === null
          ? `<span class="unknown">${both("未知（数据过期）", "unknown (count stale)")}</span>`
          : `<b>${free}</b>/${unit.max[i]}`;
      const at = unit.at[i] ? ` <span class="age">· ${esc(unit.at[i])}</span>` : "";
      lines.push(`<li data-unit="${code}">${both(zh, en)}: ${figure}${at}</li>`);
    }
    return lines.length ? `<ul class="units">${lines.join("")}</ul>` : "—";
  }

  function popupHtml(data, opts, i) {
    const kind = opts.kinds[data.kind[i]];
    const state = opts.states[data.state[i]];
    const stars = data.stars[i]
      ? `<span class="stars" aria-label="${data.stars[i]} stars">${"★".repeat(data.stars[i])}${"☆".repeat(5 - data.stars[i])}</span>`
      : "";
    const open = data.open[i];
    const openText =
      open === null
        ? both("开放状态未知", "opening state unknown")
        : open
          ? both("此时段开放", "open at the map's time")
          : both("此时段关闭", "closed at the map's time");
    const groups = fromMask(data.grp[i], opts.groups).map(([, zh, en]) => `<li>${both(zh, en)}</li>`);
    const services = fromMask(data.svc[i], opts.services).map(
      ([code, zh, en]) => `<li data-service="${code}">${both(zh, en)}</li>`,
    );
    return (
      `<div class="locator-popup" data-code="${esc(data.code[i])}">` +
      `<div class="name-zh" lang="zh-CN">${esc(data.zh[i])}</div>` +
      (data.en[i] ? `<div class="name-en" lang="en">${esc(data.en[i])}</div>` : "") +
      `<div class="kind">${both(kind[1], kind[2])} ${stars}</div>` +
      `<div class="state" style="border-color:${state[3]}">${both(state[1], state[2])} · ${openText}</div>` +
      `<dl><dt>${both("服务对象", "Serves")}</dt><dd><ul class="groups">${groups.join("") || "—"}</ul></dd>` +
      `<dt>${both("服务", "Services")}</dt><dd><ul class="services">${services.join("") || "—"}</ul></dd>` +
      `<dt>${both("开放时间", "Hours")}</dt><dd class="hours">${esc(data.hoursTable[data.hours[i]] || "—")}</dd>` +
      `<dt>${both("空余", "Free places")}</dt><dd>${unitLine(data, opts, i)}</dd></dl>` +
      `<div class="code">${esc(data.code[i])}</div></div>`
    );
  }

  function icons(opts) {
    const cache = {};
    return (kindIndex, stateIndex) => {
      const key = `${kindIndex}:${stateIndex}`;
      if (!cache[key]) {
        const [kind, , , glyph] = opts.kinds[kindIndex];
        const [state, , , colour] = opts.states[stateIndex];
        cache[key] = L.divIcon({
          className: `locator-station kind-${kind} state-${state}`,
          html: `<span style="background:${colour}">${glyph}</span>`,
          iconSize: [24, 24],
          iconAnchor: [12, 12],
          popupAnchor: [0, -10],
        });
      }
      return cache[key];
    };
  }

  function catchments(map, group, data, opts) {
    function draw() {
      group.clearLayers();
      if (!map.hasLayer(group)) return;
      if (data.n > opts.maxCircles && map.getZoom() < opts.circleMinZoom) return;
      const bounds = map.getBounds().pad(0.25);
      let drawn = 0;
      for (let i = 0; i < data.n && drawn < opts.maxCircles; i++) {
        if (data.open[i] === false || !bounds.contains([data.lat[i], data.lon[i]])) continue;
        L.circle([data.lat[i], data.lon[i]], {
          radius: opts.radiusM,
          className: "locator-catchment",
          color: opts.circleColour,
          weight: 1,
          fillOpacity: 0.08,
          interactive: false,
        }).addTo(group);
        drawn++;
      }
    }
    map.on("moveend", draw);
    map.on("overlayadd", (event) => event.layer === group && draw());
    draw();
  }

  function clusterIcon(count) {
    const size = count < 100 ? "small" : count < 1000 ? "medium" : "large";
    const px = { small: 30, medium: 36, large: 44 }[size];
    const label = count < 10000 ? String(count) : `${Math.round(count / 1000)}k`;
    return L.divIcon({
      className: `locator-cluster locator-cluster-${size}`,
      html: `<span>${label}</span>`,
      iconSize: [px, px],
    });
  }

  /* Clusters by supercluster (a k-d tree index, built once in about a second for 150,000
   * stations); on every move only the clusters and stations in view become markers. */
  function stations(map, group, circleGroup, payload, opts) {
    return decode(payload).then((data) => {
      const icon = icons(opts);
      const points = new Array(data.n);
      for (let i = 0; i < data.n; i++) {
        points[i] = {
          type: "Feature",
          properties: { i },
          geometry: { type: "Point", coordinates: [data.lon[i], data.lat[i]] },
        };
      }
      const index = new Supercluster({
        radius: 60,
        maxZoom: opts.clusterMaxZoom,
        minZoom: map.getMinZoom() || 0,
      }).load(points);
      const layer = L.layerGroup().addTo(group);

      function openPopup(i) {
        L.popup({ maxWidth: 320, autoPanPaddingTopLeft: [50, 170] })
          .setLatLng([data.lat[i], data.lon[i]])
          .setContent(popupHtml(data, opts, i))
          .openOn(map);
      }

      function draw() {
        if (!map.hasLayer(group)) return;
        const bounds = map.getBounds();
        const west = Math.max(-180, bounds.getWest());
        const east = Math.min(180, bounds.getEast());
        const found = index.getClusters(
          [west, bounds.getSouth(), east, bounds.getNorth()],
          Math.round(map.getZoom()),
        );
        layer.clearLayers();
        map.getContainer().dataset.stationsView = bounds.toBBoxString();
        for (const feature of found) {
          const [lon, lat] = feature.geometry.coordinates;
          const props = feature.properties;
          if (props.cluster) {
            const marker = L.marker([lat, lon], { icon: clusterIcon(props.point_count) });
            marker.stationCount = props.point_count;
            marker.on("click", () =>
              map.flyTo([lat, lon], index.getClusterExpansionZoom(props.cluster_id)),
            );
            layer.addLayer(marker);
          } else {
            const i = props.i;
            const marker = L.marker([lat, lon], {
              icon: icon(data.kind[i], data.state[i]),
              title: data.zh[i],
            });
            marker.stationIndex = i;
            marker.on("click", () => openPopup(i));
            layer.addLayer(marker);
          }
        }
      }

      map.on("moveend", draw);
      map.on("overlayadd", (event) => event.layer === group && draw());
      draw();
      catchments(map, circleGroup, data, opts);
      map.getContainer().dataset.stations = String(data.n);
      performance.mark("locator-stations-ready");
      window.locatorStations = { data, index, layer, openPopup };
      return layer;
    });
  }

  let hatchPattern = null;
  function canvasHatch() {
    if (!hatchPattern) {
      const tile = document.createElement("canvas");
      tile.width = tile.height = 8;
      const ctx = tile.getContext("2d");
      ctx.fillStyle = "#e0e0e0";
      ctx.fillRect(0, 0, 8, 8);
      ctx.strokeStyle = "#8c8c8c";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(0, 8);
      ctx.lineTo(8, 0);
      ctx.stroke();
      hatchPattern = ctx.createPattern(tile, "repeat");
    }
    return hatchPattern;
  }

  /* Areas coloured by coverage share; suppressed ones hatched (an SVG pattern, or a canvas
   * pattern when there are too many areas for SVG). Built when the layer is first shown. */
  function areas(map, group, payload, opts) {
    let built = null;
    function build() {
      if (built || !map.hasLayer(group)) return built;
      built = decode(payload).then((data) => {
        const renderer = opts.canvas ? L.canvas({ padding: 0.2 }) : L.svg();
        const layer = L.geoJSON(data, {
          renderer,
          style: (feature) => {
            const p = feature.properties;
            const hatched = p.suppressed && opts.canvas ? canvasHatch() : p.fill;
            return {
              fillColor: hatched,
              fillOpacity: p.suppressed ? 0.8 : 0.65,
              color: "#555",
              weight: opts.weight,
              className: p.suppressed ? "locator-area suppressed" : "locator-area",
            };
          },
        });
        layer.bindTooltip(
          (part) => {
            const p = part.feature.properties;
            const rows = [p.coverage, p.stations, p.distance, p.access].map(
              (value, i) => `<tr><th>${esc(opts.labels[i])}</th><td>${esc(value)}</td></tr>`,
            );
            return `<div class="locator-area-tip"><b>${esc(p.area)}</b><table>${rows.join("")}</table></div>`;
          },
          { sticky: true },
        );
        group.addLayer(layer);
        map.getContainer().dataset[`areas${opts.level}`] = String(data.features.length);
        return layer;
      });
      return built;
    }
    map.on("overlayadd", (event) => event.layer === group && build());
    build();
  }

  function title(map, html) {
    const box = L.DomUtil.create("div", "locator-title", map.getContainer());
    box.innerHTML = html;
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  }

  function legend(map, html) {
    const control = L.control({ position: "bottomleft" });
    control.onAdd = () => {
      const box = L.DomUtil.create("div", "locator-legend leaflet-control");
      box.innerHTML = html;
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    return control.addTo(map);
  }

  function minimap(map, tileUrl, outlines) {
    const layer = tileUrl
      ? L.tileLayer(tileUrl, { maxZoom: 18 })
      : L.geoJSON(outlines ? outlines.toGeoJSON() : [], {
          style: { color: "#555", weight: 1, fillColor: "#bbb", fillOpacity: 0.4 },
          interactive: false,
        });
    return new L.Control.MiniMap(layer, {
      toggleDisplay: true,
      position: "bottomright",
      zoomLevelOffset: -5,
      strings: { hideText: "隐藏小地图 Hide mini-map", showText: "显示小地图 Show mini-map" },
    }).addTo(map);
  }

  window.LocatorMap = { decode, stations, areas, title, legend, minimap, popupHtml };
})();
