// @ts-check
// The parts of the worker app that the inbox does not need: calls and briefings, my incidents, the
// report form, going live. The app imports this module once the inbox is drawn (worker-app.js
// loadLater), so that a phone on a slow link shows its instructions without waiting for them.
export { CallLayer, startCalls } from "./call-screen.js";
export { IncidentsView, myIncidents, startIncidents } from "./incidents-view.js";
export { LiveBanner, LiveView } from "./live-view.js";
export { ReportView } from "./report-view.js";
