import {
  createCiphertextRefusedError,
  createEmptyMessageError,
  createMessageTooLongError,
  createPlaintextRefusedError,
} from './messages.errors.js';
import { maxCiphertextLength } from './messages.schemas.js';

/** The content columns of a message after the channel's plaintext/E2EE rules were applied. */
export type Content = {
  conteudo: string;
  conteudoCifrado: string | null;
  alg: string | null;
  keyVersion: number | null;
};
export type ContentChecker = ReturnType<typeof createContentChecker>;

/** The content rules of sends and edits: plaintext or E2EE as the channel says, within MESSAGE_MAX_CHARS. */
export function createContentChecker(settings: { messageMaxChars: number }) {
  const maxCiphertextChars = maxCiphertextLength(settings.messageMaxChars);
  /** Applies the plaintext or E2EE rules of the channel to submitted content. */
  function checkContent(
    channel: { e2eeHabilitado: boolean },
    input: {
      conteudo?: string | undefined;
      conteudo_cifrado?: string | undefined;
      alg?: string | undefined;
      key_version?: number | undefined;
    },
  ): Content {
    if (channel.e2eeHabilitado) {
      if ((input.conteudo ?? '') !== '' || !input.conteudo_cifrado || input.key_version === undefined) {
        throw createPlaintextRefusedError();
      }
      if (input.alg !== 'AES-GCM') throw createPlaintextRefusedError();
      // Every message rides in channel lists, events and sockets: ciphertext may be no longer than
      // a MESSAGE_MAX_CHARS plaintext can encrypt to.
      if (input.conteudo_cifrado.length > maxCiphertextChars) {
        throw createMessageTooLongError(
          `conteudo_cifrado is longer than ${maxCiphertextChars} characters (what ${settings.messageMaxChars} characters encrypt to at most).`,
        );
      }
      return {
        conteudo: '',
        conteudoCifrado: input.conteudo_cifrado,
        alg: 'AES-GCM',
        keyVersion: input.key_version,
      };
    }
    if (input.conteudo_cifrado !== undefined || input.alg !== undefined || input.key_version !== undefined) {
      throw createCiphertextRefusedError();
    }
    const text = input.conteudo ?? '';
    if (text.trim().length === 0) throw createEmptyMessageError();
    if ([...text].length > settings.messageMaxChars) {
      throw createMessageTooLongError(
        `Message content is longer than ${settings.messageMaxChars} characters.`,
      );
    }
    return { conteudo: text, conteudoCifrado: null, alg: null, keyVersion: null };
  }
  return checkContent;
}
