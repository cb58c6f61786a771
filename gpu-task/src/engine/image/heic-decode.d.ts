/**
 * Types for `heic-decode` 2.x (it ships none): libheif compiled to WebAssembly, used for HEIC
 * because the bundled libvips has no HEVC decoder. Only the parts the engine calls are declared.
 */
declare module 'heic-decode' {
  /** Decoded pixels: always 8-bit RGBA, straight alpha, rows top to bottom. */
  interface HeicImageData {
    width: number;
    height: number;
    data: Uint8ClampedArray;
  }

  /** A top-level image of the file, not yet decoded. Sizes already include irot/imir. */
  interface HeicImageHandle {
    width: number;
    height: number;
    decode(): Promise<HeicImageData>;
  }

  /** The top-level images, in libheif's order; `dispose` frees them in the WebAssembly heap. */
  type HeicImageList = HeicImageHandle[] & { dispose(): void };

  interface HeicDecode {
    /** Decode the first top-level image. */
    (input: { buffer: Uint8Array }): Promise<HeicImageData>;
    /** List the top-level images without decoding them. */
    all(input: { buffer: Uint8Array }): Promise<HeicImageList>;
  }

  const decode: HeicDecode;
  export default decode;
}
