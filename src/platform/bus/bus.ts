// The fan-out bus: named topics carrying JSON-serializable messages. Two adapters implement it:
// in-process (embedded mode) and Redis pub/sub (several nodes). It knows nothing about chat.
export type BusHandler = (message: string) => void;

export interface Bus {
  /** Publishes a serialized message to every subscriber of the topic, on every node. */
  publish(topic: string, message: string): Promise<void>;
  /** Subscribes to a topic; the returned function unsubscribes this handler. */
  subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
