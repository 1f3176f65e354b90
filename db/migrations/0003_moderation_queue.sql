CREATE TABLE "chat_moderators" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"granted_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "chat_moderation_queue" (
	"message_id" uuid PRIMARY KEY NOT NULL,
	"channel_id" uuid NOT NULL,
	"status" varchar(16) DEFAULT 'pendente' NOT NULL,
	"flag_count" integer DEFAULT 0 NOT NULL,
	"is_spam" boolean DEFAULT false NOT NULL,
	"last_activity_at" timestamp with time zone DEFAULT now() NOT NULL,
	"decision" varchar(16),
	"resolved_by" uuid,
	"resolved_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "chat_moderation_logs" DROP CONSTRAINT "chat_moderation_logs_message_id_chat_messages_id_fk";
--> statement-breakpoint
ALTER TABLE "chat_moderation_logs" ALTER COLUMN "message_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "chat_message_flags" ADD COLUMN "resolved_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "chat_moderation_logs" ADD COLUMN "channel_id" uuid;--> statement-breakpoint
ALTER TABLE "chat_moderation_logs" ADD COLUMN "reason" text;--> statement-breakpoint
ALTER TABLE "chat_moderators" ADD CONSTRAINT "chat_moderators_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_moderators" ADD CONSTRAINT "chat_moderators_granted_by_users_id_fk" FOREIGN KEY ("granted_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_moderation_queue" ADD CONSTRAINT "chat_moderation_queue_message_id_chat_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."chat_messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_moderation_queue" ADD CONSTRAINT "chat_moderation_queue_channel_id_chat_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."chat_channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_moderation_queue" ADD CONSTRAINT "chat_moderation_queue_resolved_by_users_id_fk" FOREIGN KEY ("resolved_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "chat_moderation_queue_flags_idx" ON "chat_moderation_queue" USING btree ("status","flag_count","message_id");--> statement-breakpoint
CREATE INDEX "chat_moderation_queue_recent_idx" ON "chat_moderation_queue" USING btree ("status","last_activity_at","message_id");--> statement-breakpoint
ALTER TABLE "chat_moderation_logs" ADD CONSTRAINT "chat_moderation_logs_channel_id_chat_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."chat_channels"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_moderation_logs" ADD CONSTRAINT "chat_moderation_logs_message_id_chat_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."chat_messages"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "chat_moderation_logs_created_idx" ON "chat_moderation_logs" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "chat_moderation_logs_channel_created_idx" ON "chat_moderation_logs" USING btree ("channel_id","created_at","id");--> statement-breakpoint
-- Data: the log's wire names for decisions, its channel, and a queue row for every flagged message.
UPDATE "chat_moderation_logs" SET "action" = 'approved' WHERE "action" = 'approve';--> statement-breakpoint
UPDATE "chat_moderation_logs" SET "action" = 'removed' WHERE "action" = 'remove';--> statement-breakpoint
UPDATE "chat_moderation_logs" l SET "channel_id" = m."channel_id" FROM "chat_messages" m WHERE m."id" = l."message_id" AND l."channel_id" IS NULL;--> statement-breakpoint
INSERT INTO "chat_moderation_queue" ("message_id", "channel_id", "flag_count", "is_spam", "last_activity_at")
SELECT m."id", m."channel_id", count(f."id")::int, m."is_spam", coalesce(max(f."created_at"), m."created_at")
FROM "chat_messages" m LEFT JOIN "chat_message_flags" f ON f."message_id" = m."id"
WHERE m."deleted_at" IS NULL AND (f."id" IS NOT NULL OR m."is_spam")
GROUP BY m."id", m."channel_id", m."is_spam", m."created_at"
ON CONFLICT DO NOTHING;
