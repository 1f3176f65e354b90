CREATE TABLE "chat_attachments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"uploader_id" uuid,
	"storage_key" text NOT NULL,
	"nome" varchar(255) NOT NULL,
	"mime_type" varchar(127) NOT NULL,
	"tipo" varchar(16) NOT NULL,
	"tamanho" bigint NOT NULL,
	"scan_status" varchar(16) DEFAULT 'pending' NOT NULL,
	"scan_signature" text,
	"message_id" uuid,
	"channel_id" uuid,
	"thumb_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "chat_attachments_tipo_check" CHECK ("chat_attachments"."tipo" in ('image', 'video', 'file')),
	CONSTRAINT "chat_attachments_scan_status_check" CHECK ("chat_attachments"."scan_status" in ('clean', 'infected', 'skipped', 'pending')),
	CONSTRAINT "chat_attachments_tamanho_check" CHECK ("chat_attachments"."tamanho" >= 0)
);
--> statement-breakpoint
ALTER TABLE "chat_attachments" ADD CONSTRAINT "chat_attachments_uploader_id_users_id_fk" FOREIGN KEY ("uploader_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_attachments" ADD CONSTRAINT "chat_attachments_message_id_chat_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."chat_messages"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_attachments" ADD CONSTRAINT "chat_attachments_channel_id_chat_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."chat_channels"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "chat_attachments_storage_key" ON "chat_attachments" USING btree ("storage_key");--> statement-breakpoint
CREATE INDEX "chat_attachments_uploader_idx" ON "chat_attachments" USING btree ("uploader_id");--> statement-breakpoint
CREATE INDEX "chat_attachments_message_idx" ON "chat_attachments" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "chat_attachments_channel_idx" ON "chat_attachments" USING btree ("channel_id");