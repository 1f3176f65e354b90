// s3rver ships no types; only what test/support/s3.ts uses. S3rver is a Koa application.
declare module 's3rver' {
  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory: string;
    resetOnClose?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }
  interface KoaContext {
    method: string;
    path: string;
    query: Record<string, string | string[] | undefined>;
    status: number;
    headers: Record<string, string | string[] | undefined>;
  }
  type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
  class S3rver {
    constructor(options: S3rverOptions);
    /** Koa's middleware list; composed when run() starts listening. */
    middleware: Middleware[];
    run(): Promise<{ address: string; port: number; family: string }>;
    close(): Promise<void>;
  }
  export default S3rver;
}
