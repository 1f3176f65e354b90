import { createErrorFactory } from '../../shared/errors.js';

export const createNotMultipartError = createErrorFactory({
  status: 400,
  code: 'attachments.not_multipart',
  detail: 'Send the file as multipart/form-data in the field "file".',
});
export const createNoFileError = createErrorFactory({
  status: 400,
  code: 'attachments.no_file',
  detail: 'The form has no file in the field "file".',
});
export const createOneFileError = createErrorFactory({
  status: 400,
  code: 'attachments.one_file',
  detail: 'Send exactly one file per upload, in the field "file", with few and short other fields.',
});
export const createTooLargeError = (maxSize: number) =>
  createErrorFactory({
    status: 413,
    code: 'attachments.too_large',
    detail: `The file is larger than ${maxSize} bytes.`,
  })();
export const createTypeNotAllowedError = (mimeType: string) =>
  createErrorFactory({
    status: 415,
    code: 'attachments.type_not_allowed',
    detail: `Files of type ${mimeType} are not accepted.`,
  })();
export const createTypeMismatchError = (detail: string) =>
  createErrorFactory({ status: 400, code: 'attachments.type_mismatch', detail })();
export const createInfectedError = createErrorFactory({
  status: 400,
  code: 'attachments.infected',
  detail: 'The file was refused by the virus scan.',
});
export const createScannerUnavailableError = createErrorFactory({
  status: 503,
  code: 'attachments.scanner_unavailable',
  detail: 'The virus scanner is unavailable; try again later.',
});
