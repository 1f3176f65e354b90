-- The send path's seq allocation for several channels at once (messages.repository.ts). Written
-- inline in that statement, the update was a join whose plan depends on table statistics: without
-- them (a fresh database, autovacuum off) or on a small channels table, PostgreSQL chose to scan
-- every channel row per batch, twice, at a cost growing with the batch size. Here the planner may
-- only probe the primary key. The caller passes ids sorted, so every writer locks channel rows in
-- id order and concurrent batches wait for each other instead of deadlocking; a concurrently
-- updated row is re-read (READ COMMITTED), and a deleted channel is skipped.
CREATE FUNCTION "chat_take_seqs"("channel_ids" uuid[], "counts" integer[])
RETURNS TABLE ("channel_id" uuid, "last_seq" bigint)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
BEGIN
  RETURN QUERY
    WITH taken AS (
      UPDATE "chat_channels" ch SET "last_seq" = ch."last_seq" + u.n
      FROM unnest("channel_ids", "counts") AS u(id, n)
      WHERE ch."id" = u.id AND ch."deleted_at" IS NULL
      RETURNING ch."id", ch."last_seq"
    )
    SELECT taken."id", taken."last_seq" FROM taken;
END
$$;
