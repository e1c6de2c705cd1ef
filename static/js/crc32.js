// CRC32 (the zlib/IEEE polynomial) of a part, as S3 checks it: the 4 bytes, big endian, in
// base64. Slicing by 8 with tables built once: ~1 GB/s in current browsers, a 16 MiB part in
// tens of milliseconds, read in 4 MiB slices so a part never sits in memory twice.

const TABLES = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256))
  for (let n = 0; n < 256; n += 1) {
    let c = n
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    tables[0][n] = c >>> 0
  }
  for (let n = 0; n < 256; n += 1) {
    for (let t = 1; t < 8; t += 1) {
      const previous = tables[t - 1][n]
      tables[t][n] = (tables[0][previous & 0xff] ^ (previous >>> 8)) >>> 0
    }
  }
  return tables
})()

export function crc32Update (crc, bytes) {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES
  let c = ~crc >>> 0
  let i = 0
  const end8 = bytes.length - (bytes.length % 8)
  for (; i < end8; i += 8) {
    const a = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) ^ c
    c = t7[a & 0xff] ^ t6[(a >>> 8) & 0xff] ^ t5[(a >>> 16) & 0xff] ^ t4[a >>> 24] ^
      t3[bytes[i + 4]] ^ t2[bytes[i + 5]] ^ t1[bytes[i + 6]] ^ t0[bytes[i + 7]]
  }
  for (; i < bytes.length; i += 1) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

export function crc32Base64 (value) {
  const bytes = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]
  return btoa(String.fromCharCode(...bytes))
}

const SLICE = 4 * 1024 * 1024

export async function blobCrc32 (blob) {
  let crc = 0
  for (let start = 0; start < blob.size; start += SLICE) {
    const bytes = new Uint8Array(await blob.slice(start, start + SLICE).arrayBuffer())
    crc = crc32Update(crc, bytes)
  }
  return crc32Base64(crc)
}
