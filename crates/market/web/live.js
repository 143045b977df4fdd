// Live feed: WebSocket /ws, reconnecting with exponential backoff (1 s doubling to 30 s).
// onEvent(name, data) gets every message; onState(state, retryMs) is called with
// 'connecting', 'live' or 'offline'.
const MIN_DELAY = 1000;
const MAX_DELAY = 30000;

export function connectLive(onEvent, onState) {
  let delay = MIN_DELAY;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

  function connect() {
    onState('connecting');
    const ws = new WebSocket(url);
    ws.addEventListener('open', () => {
      delay = MIN_DELAY;
      onState('live');
    });
    ws.addEventListener('message', (msg) => {
      let parsed;
      try {
        parsed = JSON.parse(msg.data);
      } catch {
        return; // not one of the feed's JSON frames
      }
      if (parsed && typeof parsed.event === 'string') onEvent(parsed.event, parsed.data);
    });
    // 'close' follows 'error' too, so reconnecting here covers both.
    ws.addEventListener('close', () => {
      onState('offline', delay);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY);
    });
  }
  connect();
}
