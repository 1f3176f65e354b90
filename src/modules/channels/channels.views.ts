import type { ChannelRow } from './channels.table.js';

/**
 * A channel's newest visible message, as the messages module shapes it: opaque here, since that
 * module sits above this one (it is handed in through `lastMessages`, see channels.service).
 */
export type LastMessageView = Record<string, unknown>;

/** The wire shape of a channel. */
export function toChannelView(
  channel: ChannelRow,
  extra: { participantes: number; ultima_mensagem: LastMessageView | null },
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
