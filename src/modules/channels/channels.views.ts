import type { MessageView } from '../messages/messages.views.js';
import type { ChannelRow } from './channels.table.js';

/** The wire shape of a channel. */
export function toChannelView(
  channel: ChannelRow,
  extra: { participantes: number; ultima_mensagem: MessageView | null },
) {
  return {
    id: channel.id,
    contexto_tipo: channel.contextoTipo,
    contexto_id: channel.contextoId,
    titulo: channel.titulo,
    descricao: channel.descricao,
    e2ee_habilitado: channel.e2eeHabilitado,
    retencao_dias: channel.retencaoDias,
    categoria: channel.categoria,
    last_seq: channel.lastSeq,
    created_by: channel.createdBy,
    created_at: channel.createdAt.toISOString(),
    updated_at: channel.updatedAt.toISOString(),
    participantes: extra.participantes,
    ultima_mensagem: extra.ultima_mensagem,
  };
}
export type ChannelView = ReturnType<typeof toChannelView>;
