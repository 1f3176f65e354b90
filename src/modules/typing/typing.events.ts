declare module '../../shared/events.js' {
  interface EphemeralEventMap {
    /** Someone is typing (`start`, re-sent at most once a second) or stopped (`stop`). */
    'chat.typing': { action: 'start' | 'stop'; username: string; user_id: string };
  }
}
export {};
