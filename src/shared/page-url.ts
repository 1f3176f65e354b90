/** Absolute URL of another page of the same list: the request's own query with the cursor replaced. */
export function buildPageUrl(
  request: { protocol: string; host: string; url: string },
  cursor: string | undefined,
): string | null {
  if (cursor === undefined) return null;
  const url = new URL(request.url, `${request.protocol}://${request.host}`);
  url.searchParams.set('cursor', cursor);
  return url.toString();
}
