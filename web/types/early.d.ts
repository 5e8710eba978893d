// What pages/worker-boot.js starts before the app's modules: answers the HTTP client takes once.
interface EarlyRequest {
  /** The token it was sent with (not used when the app holds another one by then). */
  token: string | null;
  answer: Promise<Response>;
}

interface Window {
  /** GET requests made early, by path (see api/client.js takeEarly). */
  skyhubEarly?: Record<string, EarlyRequest>;
}
