import { eq } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { chatAttachments, type AttachmentRow } from './attachments.table.js';

export type NewAttachment = Pick<
  AttachmentRow,
  | 'id'
  | 'uploaderId'
  | 'storageKey'
  | 'nome'
  | 'mimeType'
  | 'tipo'
  | 'tamanho'
  | 'scanStatus'
  | 'scanSignature'
>;

export function createAttachmentsRepository({ db }: { db: Executor }) {
  return {
    async insert(values: NewAttachment, tx: Executor = db): Promise<AttachmentRow> {
      const [row] = await tx.insert(chatAttachments).values(values).returning();
      return row!;
    },
    async findById(id: string, tx: Executor = db): Promise<AttachmentRow | undefined> {
      const [row] = await tx.select().from(chatAttachments).where(eq(chatAttachments.id, id));
      return row;
    },
  };
}
export type AttachmentsRepository = ReturnType<typeof createAttachmentsRepository>;
