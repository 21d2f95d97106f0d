/* footfall occupancy widget: <footfall-occupancy site="ID" lang="fr" theme="light" heading="2"> (no dependencies).
   Reads the public API of the server this script came from (or the `api` attribute), every minute
   (`refresh` seconds), and shows level, percent, wait, the usual value and today's curve. */
(() => {
  "use strict";
  const script = document.currentScript;
  const defaultBase = script && script.src ? script.src.replace(/widget\.js(\?.*)?$/, "") : "/";
  const T = {
    en: {
      low: "Not busy", medium: "Fairly busy", high: "Busy", full: "Full", closed: "Closed", no_data: "No data",
      gauge: "Occupancy: {p} of capacity", gaugeNone: "Occupancy unknown", wait: "Wait: about {n} min",
      usually: "Usually {p} at this time", opens: "Opens {t}", closes: "Closes {t}", updated: "Updated {t}",
      refresh: "Refresh", today: "Today", observed: "Observed", forecast: "Forecast", band: "Forecast range",
      chart: "Today's occupancy in percent of capacity", seen: "Observed until {t}: now {p}, peak {q} at {u}.",
      ahead: "Forecast peak for the rest of the day: {q} at {u}.", nothing: "No figures for today yet.",
      error: "The occupancy could not be loaded.", people: "{n} people",
    },
    fr: {
      low: "Peu fréquenté", medium: "Assez fréquenté", high: "Très fréquenté", full: "Complet", closed: "Fermé",
      no_data: "Pas de données", gauge: "Occupation : {p} de la capacité", gaugeNone: "Occupation inconnue",
      wait: "Attente : environ {n} min", usually: "D'habitude {p} à cette heure", opens: "Ouvre {t}",
      closes: "Ferme {t}", updated: "Mis à jour {t}", refresh: "Actualiser", today: "Aujourd'hui",
      observed: "Observé", forecast: "Prévision", band: "Fourchette prévue",
      chart: "Occupation d'aujourd'hui en pourcentage de la capacité",
      seen: "Observé jusqu'à {t} : maintenant {p}, maximum {q} à {u}.",
      ahead: "Maximum prévu pour le reste de la journée : {q} à {u}.", nothing: "Pas encore de chiffres aujourd'hui.",
      error: "L'occupation n'a pas pu être chargée.", people: "{n} personnes",
    },
    de: {
      low: "Wenig besucht", medium: "Mäßig besucht", high: "Stark besucht", full: "Voll", closed: "Geschlossen",
      no_data: "Keine Daten", gauge: "Auslastung: {p} der Kapazität", gaugeNone: "Auslastung unbekannt",
      wait: "Wartezeit: etwa {n} Min.", usually: "Üblich um diese Zeit: {p}", opens: "Öffnet {t}",
      closes: "Schließt {t}", updated: "Aktualisiert {t}", refresh: "Aktualisieren", today: "Heute",
      observed: "Gemessen", forecast: "Prognose", band: "Prognosebereich",
      chart: "Heutige Auslastung in Prozent der Kapazität",
      seen: "Gemessen bis {t}: jetzt {p}, Höchstwert {q} um {u}.",
      ahead: "Prognostizierter Höchstwert für den Rest des Tages: {q} um {u}.", nothing: "Noch keine Zahlen für heute.",
      error: "Die Auslastung konnte nicht geladen werden.", people: "{n} Personen",
    },
  };
  const CSS = `
:host{display:block;max-width:360px;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.card{border:1px solid var(--line);border-radius:10px;padding:14px 16px;background:var(--bg);color:var(--fg)}
.light{--bg:#fff;--fg:#1b1b1b;--muted:#4a4a4a;--line:#c4c4c4;--track:#e6e6e6;--obs:#1f4e9c;--band:#9ec2ee;--focus:#1f4e9c}
.dark{--bg:#15171c;--fg:#f0f0f0;--muted:#c9c9c9;--line:#4a4e58;--track:#34373f;--obs:#8ab4ff;--band:#3b5c8a;--focus:#8ab4ff}
#title{font-size:1.05em;margin:0 0 8px}
.status{display:flex;align-items:baseline;gap:10px;flex-wrap:wrap}
.badge{border-radius:999px;padding:2px 10px;font-weight:600}
.pct{font-size:1.6em;font-weight:700}
.light .low{background:#e3f4e6;color:#0f5b23}.light .medium{background:#fff4d1;color:#5f4200}
.light .high{background:#ffe6d5;color:#8a3200}.light .full{background:#fde1e1;color:#8e1111}
.light .closed,.light .no_data{background:#ececec;color:#333}
.dark .low{background:#103b1d;color:#bff0cb}.dark .medium{background:#3d3000;color:#ffe79a}
.dark .high{background:#4a2000;color:#ffd0b0}.dark .full{background:#4d0f0f;color:#ffc9c9}
.dark .closed,.dark .no_data{background:#2c2f36;color:#e6e6e6}
.gauge{display:block;width:100%;height:10px;margin:8px 0}
p{margin:4px 0}.muted{color:var(--muted)}
figure{margin:10px 0 4px}svg.chart{display:block;width:100%;height:auto}
figcaption{display:flex;gap:12px;flex-wrap:wrap;font-size:.85em;color:var(--muted)}
.key{display:inline-block;width:14px;height:4px;vertical-align:middle;margin-right:4px}
.foot{display:flex;justify-content:space-between;align-items:center;font-size:.85em;color:var(--muted)}
button{font:inherit;color:var(--fg);background:transparent;border:1px solid var(--line);border-radius:6px;padding:3px 10px;cursor:pointer}
button:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
[hidden]{display:none}`;
  const FILL = { low: "#2e7d32", medium: "#a86b00", high: "#c2410c", full: "#b71c1c" };
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const fmt = (s, v) => s.replace(/\{(\w)\}/g, (_, k) => (v[k] == null ? "" : v[k]));

  class FootfallOccupancy extends HTMLElement {
    static get observedAttributes() { return ["site", "lang", "theme", "api", "refresh"]; }

    constructor() {
      super();
      this.attachShadow({ mode: "open" });
      this.now = null; this.today = null; this.failed = false;
    }

    connectedCallback() { this.started = true; this.load(); this.schedule(); }
    disconnectedCallback() { this.started = false; clearInterval(this.timer); }
    attributeChangedCallback(name, before, after) {
      // Upgrading an element already in the page calls this for each attribute: connectedCallback loads then.
      if (!this.started || before === after) return;
      if (name === "site" || name === "api") this.load();
      else if (name === "refresh") this.schedule();
      else this.render();
    }

    get language() { const l = (this.getAttribute("lang") || document.documentElement.lang || "en").slice(0, 2); return T[l] ? l : "en"; }
    get base() { const a = this.getAttribute("api"); return a ? a.replace(/\/?$/, "/") : defaultBase; }

    schedule() {
      clearInterval(this.timer);
      const s = Math.max(1, Number(this.getAttribute("refresh")) || 60);
      this.timer = setInterval(() => this.load(), s * 1000);
    }

    async load() {
      const site = this.getAttribute("site");
      if (!site) return;
      const url = `${this.base}v1/public/sites/${encodeURIComponent(site)}/`;
      try {
        const get = async (part) => {
          const r = await fetch(url + part, { cache: "no-cache", credentials: "omit" });
          if (!r.ok) throw new Error(`${part}: HTTP ${r.status}`);
          return r.json();
        };
        const [now, today] = await Promise.all([get("now"), get("today")]);
        this.now = now; this.today = today; this.failed = false;
      } catch (e) {
        this.failed = true;
      }
      this.render();
      this.dispatchEvent(new CustomEvent("footfall-update", { detail: this.now }));
    }

    pct(p) { return new Intl.NumberFormat(this.language, { style: "percent" }).format(p / 100); }

    time(iso, withDay) {
      const d = new Date(iso);
      const o = { hour: "2-digit", minute: "2-digit", timeZone: (this.now && this.now.timezone) || undefined };
      if (withDay) o.weekday = "long";
      return new Intl.DateTimeFormat(this.language, o).format(d);
    }

    render() {
      const t = T[this.language];
      const theme = this.getAttribute("theme") === "dark" ? "dark" : "light";
      const n = this.now;
      const level = this.failed || !n ? "no_data" : n.level;
      const shown = n && !this.failed && n.percent != null && level !== "no_data";
      this.setAttribute("data-level", level);
      this.setAttribute("data-percent", shown ? String(n.percent) : "");
      const lines = [];
      if (this.failed) lines.push(`<p>${esc(t.error)}</p>`);
      if (n && !this.failed) {
        if (n.wait_minutes != null && n.wait_minutes >= 1) lines.push(`<p class="wait">${esc(fmt(t.wait, { n: Math.round(n.wait_minutes) }))}</p>`);
        if (n.usual_percent != null && n.open) lines.push(`<p class="usual">${esc(fmt(t.usually, { p: this.pct(n.usual_percent) }))}</p>`);
        if (n.next_change) {
          const serverNow = n.as_of ? Date.parse(n.as_of) + n.age_seconds * 1000 : Date.now();
          const day = (ms) => new Intl.DateTimeFormat("en-CA", { timeZone: n.timezone }).format(new Date(ms));
          const sameDay = day(Date.parse(n.next_change.at)) === day(serverNow);
          lines.push(`<p class="next">${esc(fmt(n.next_change.open ? t.opens : t.closes, { t: this.time(n.next_change.at, !sameDay) }))}</p>`);
        }
        if (n.message) lines.push(`<p class="message">${esc(n.message)}</p>`);
      }
      const gaugeLabel = shown ? fmt(t.gauge, { p: this.pct(n.percent) }) : t.gaugeNone;
      const width = shown ? n.percent : 0;
      const h = Math.min(6, Math.max(1, Number(this.getAttribute("heading")) || 2));
      const updated = n && n.as_of ? fmt(t.updated, { t: this.time(n.as_of) }) : "";
      this.shadowRoot.innerHTML = `<style>${CSS}</style>
<section class="card ${theme}" lang="${this.language}" aria-labelledby="title">
  <h${h} id="title">${esc((n && n.name) || this.getAttribute("site") || "")}</h${h}>
  <div class="status" role="status" aria-live="polite" aria-atomic="true">
    <span class="badge ${level}" part="level">${esc(t[level])}</span>
    ${shown ? `<span class="pct" part="percent">${esc(this.pct(n.percent))}</span>` : ""}
    ${shown && n.occupancy != null ? `<span class="muted">${esc(fmt(t.people, { n: n.occupancy }))}</span>` : ""}
  </div>
  <svg class="gauge" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="${esc(gaugeLabel)}">
    <rect width="100" height="10" rx="5" fill="var(--track)"></rect>
    <rect width="${width}" height="10" rx="5" fill="${FILL[level] || "transparent"}"></rect>
  </svg>
  ${lines.join("\n  ")}
  ${this.chart(t)}
  <div class="foot"><span class="updated">${esc(updated)}</span><button type="button">${esc(t.refresh)}</button></div>
</section>`;
      this.shadowRoot.querySelector("button").addEventListener("click", () => this.load());
    }

    chart(t) {
      const slots = (this.today && this.today.slots) || [];
      if (!slots.length || this.failed) return "";
      const W = 300, H = 110, n = slots.length;
      const x = (i) => ((i + 0.5) * W) / n, y = (p) => H - (p * (H - 6)) / 100 - 2;
      const line = (key) => {
        let d = "", pen = false;
        slots.forEach((s, i) => {
          if (s[key] == null) { pen = false; return; }
          d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(s[key]).toFixed(1)}`; pen = true;
        });
        return d;
      };
      const banded = slots.map((s, i) => [i, s]).filter(([, s]) => s.forecast_low != null && s.forecast_high != null);
      const band = banded.length
        ? `M${banded.map(([i, s]) => `${x(i).toFixed(1)},${y(s.forecast_high).toFixed(1)}`).join("L")}L` +
          banded.reverse().map(([i, s]) => `${x(i).toFixed(1)},${y(s.forecast_low).toFixed(1)}`).join("L") + "Z"
        : "";
      const peak = (key, from) => slots.reduce((b, s, i) => (i >= from && s[key] != null && (!b || s[key] > b.s[key]) ? { s, i } : b), null);
      const seen = slots.map((s, i) => [i, s]).filter(([, s]) => s.observed_percent != null);
      const parts = [];
      if (seen.length) {
        const [li, last] = seen[seen.length - 1], top = peak("observed_percent", 0);
        parts.push(fmt(t.seen, { t: this.time(new Date(Date.parse(last.start) + 1800e3).toISOString()), p: this.pct(last.observed_percent), q: this.pct(top.s.observed_percent), u: this.time(top.s.start) }));
        const next = peak("forecast_percent", li + 1);
        if (next) parts.push(fmt(t.ahead, { q: this.pct(next.s.forecast_percent), u: this.time(next.s.start) }));
      } else {
        const next = peak("forecast_percent", 0);
        parts.push(next ? fmt(t.ahead, { q: this.pct(next.s.forecast_percent), u: this.time(next.s.start) }) : t.nothing);
      }
      return `<figure>
    <svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title chart-desc">
      <title id="chart-title">${esc(t.chart)}</title><desc id="chart-desc">${esc(parts.join(" "))}</desc>
      <line x1="0" y1="${H - 2}" x2="${W}" y2="${H - 2}" stroke="var(--line)"></line>
      ${band ? `<path d="${band}" fill="var(--band)" fill-opacity=".55"></path>` : ""}
      <path d="${line("forecast_percent")}" fill="none" stroke="var(--obs)" stroke-width="1.5" stroke-dasharray="4 3"></path>
      <path d="${line("observed_percent")}" fill="none" stroke="var(--obs)" stroke-width="2.5"></path>
    </svg>
    <figcaption aria-hidden="true"><span><span class="key" style="background:var(--obs)"></span>${esc(t.observed)}</span>
      <span><span class="key" style="border-top:2px dashed var(--obs)"></span>${esc(t.forecast)}</span>
      <span><span class="key" style="background:var(--band)"></span>${esc(t.band)}</span></figcaption>
  </figure>`;
    }
  }

  if (!customElements.get("footfall-occupancy")) customElements.define("footfall-occupancy", FootfallOccupancy);
})();
