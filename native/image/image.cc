// retalign_image.node: a small Node-API addon for the image pipeline's hot path (src/data/images/
// fastpath.ts), over the system libjpeg-turbo (Debian libjpeg62-turbo). Two functions:
//
// decodeJpeg(bytes: Uint8Array, minShortSide: number, maxPixels: number) -> decode a baseline or
//   progressive JPEG straight to a reduced size (libjpeg's DCT-domain scaling 1/1, 1/2, 1/4, 1/8: the
//   largest that keeps the shorter side >= minShortSide) as 8-bit RGB:
//     { width, height, sourceWidth, sourceHeight, denom, data: Buffer (RGB, width*height*3) }
//     | { unsupported: string, sourceWidth, sourceHeight } | { tooLarge: true, sourceWidth, sourceHeight }
//   throws Error(libjpeg's message) for data it cannot decode. libjpeg warnings (truncated data,
//   corrupt segments) are errors, as with sharp's default failOn. What it does not handle exactly as
//   sharp would (CMYK/YCCK, an EXIF orientation other than 1, an embedded ICC profile other than
//   sRGB) is `unsupported`, and the caller uses sharp.
//
// resampleSquare(rgb: Uint8Array, w, h, rw, rh, x0, y0, size) -> Buffer (size*size*3): pixels
//   [x0, x0+size) x [y0, y0+size) of the image resized from w x h to rw x rh with a Lanczos-3 kernel
//   (widened by the scale when shrinking, edge pixels replicated, centres at (i + 0.5) * scale - 0.5,
//   as libvips' reduce), black where that window leaves the resized image. This is sharp's
//   resize -> extract -> extend of crop.ts planCrop, without computing the pixels that are thrown away.
//
// Why it exists: measured on this project's 2000x1500 fundus JPEGs (bench/data, 2-core machine),
// sharp's bundled libvips + mozjpeg decodes at 1/4 scale in ~13 ms where the system libjpeg-turbo takes
// ~7 ms, and each extra sharp call costs ~1.5 ms of fixed overhead. It is separate from retalign.node
// so that image worker threads never load libtorch.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <jpeglib.h>
}

namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void onError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

// Warnings (msg_level -1) are fatal, as in sharp (failOn: 'warning'); trace messages are ignored.
void onMessage(j_common_ptr cinfo, int level) {
  if (level < 0) onError(cinfo);
}

uint16_t rd16(const uint8_t* p, bool le) { return le ? uint16_t(p[0] | (p[1] << 8)) : uint16_t((p[0] << 8) | p[1]); }
uint32_t rd32(const uint8_t* p, bool le) {
  return le ? uint32_t(p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24))
            : uint32_t((uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]);
}

// EXIF orientation (tag 0x0112 in IFD0) of an APP1 payload, 1 when absent or unreadable.
int exifOrientation(const uint8_t* d, size_t n) {
  if (n < 14 || std::memcmp(d, "Exif\0\0", 6) != 0) return 1;
  const uint8_t* t = d + 6;
  size_t tn = n - 6;
  bool le;
  if (t[0] == 'I' && t[1] == 'I') le = true;
  else if (t[0] == 'M' && t[1] == 'M') le = false;
  else return 1;
  uint32_t ifd = rd32(t + 4, le);
  if (ifd + 2 > tn) return 1;
  uint16_t count = rd16(t + ifd, le);
  for (uint16_t i = 0; i < count; i++) {
    size_t e = ifd + 2 + size_t(i) * 12;
    if (e + 12 > tn) return 1;
    if (rd16(t + e, le) == 0x0112) return rd16(t + e + 8, le);
  }
  return 1;
}

// Whether an ICC profile carried in one APP2 chunk describes sRGB (its 'desc' tag names sRGB, ASCII
// in v2 'desc' or UTF-16BE in v4 'mluc'). sharp converts through embedded profiles; for sRGB that is
// the identity up to rounding, so the fast path may take those files. Anything else goes to sharp.
bool iccIsSrgb(const uint8_t* d, size_t n) {
  // APP2 payload: "ICC_PROFILE\0", chunk number, chunk count, then the profile.
  if (n < 14 + 132 || d[12] != 1 || d[13] != 1) return false;
  const uint8_t* p = d + 14;
  size_t pn = n - 14;
  uint32_t tags = rd32(p + 128, false);
  for (uint32_t i = 0; i < tags; i++) {
    size_t e = 132 + size_t(i) * 12;
    if (e + 12 > pn) return false;
    if (std::memcmp(p + e, "desc", 4) != 0) continue;
    size_t off = rd32(p + e + 4, false), len = rd32(p + e + 8, false);
    if (off > pn || len > pn - off || len < 12) return false;
    const uint8_t* t = p + off;
    for (size_t k = 0; k + 4 <= len; k++) {
      if (std::memcmp(t + k, "sRGB", 4) == 0) return true;  // ASCII ('desc')
      if (k + 8 <= len && t[k] == 0 && t[k + 1] == 's' && t[k + 2] == 0 && t[k + 3] == 'R' && t[k + 4] == 0 &&
          t[k + 5] == 'G' && t[k + 6] == 0 && t[k + 7] == 'B') {
        return true;  // UTF-16BE ('mluc')
      }
    }
    return false;
  }
  return false;
}

struct Header {
  int width = 0, height = 0, srcWidth = 0, srcHeight = 0, denom = 1;
  const char* unsupported = nullptr;
  bool tooLarge = false;
};

// Phase 1: header, pixel limit, what the fast path leaves to sharp, the scale. Plain C-style bodies:
// nothing with a destructor may live across a longjmp. On false, cinfo is already destroyed.
bool readHeader(jpeg_decompress_struct& cinfo, ErrorMgr& err, const uint8_t* bytes, size_t n, int minShort,
                double maxPixels, Header& h) {
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = onError;
  err.pub.emit_message = onMessage;
  err.message[0] = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(bytes), static_cast<unsigned long>(n));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xffff);
  jpeg_read_header(&cinfo, TRUE);
  h.srcWidth = static_cast<int>(cinfo.image_width);
  h.srcHeight = static_cast<int>(cinfo.image_height);
  if (double(h.srcWidth) * double(h.srcHeight) > maxPixels) {
    h.tooLarge = true;
    return true;
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    h.unsupported = "CMYK/YCCK colour";
    return true;
  }
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 2 && m->data_length >= 12 && std::memcmp(m->data, "ICC_PROFILE", 11) == 0 &&
        !iccIsSrgb(m->data, m->data_length)) {
      h.unsupported = "embedded ICC profile (not sRGB)";
      return true;
    }
    if (m->marker == JPEG_APP0 + 1 && exifOrientation(m->data, m->data_length) != 1) {
      h.unsupported = "EXIF orientation";
      return true;
    }
  }
  // The largest 1/2^k (k <= 3) that keeps the shorter side >= minShort (libjpeg rounds up).
  int shortSide = h.srcWidth < h.srcHeight ? h.srcWidth : h.srcHeight;
  int denom = 1;
  while (denom < 8 && (shortSide + 2 * denom - 1) / (2 * denom) >= minShort) denom *= 2;
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned int>(denom);
  cinfo.out_color_space = JCS_RGB;
  jpeg_calc_output_dimensions(&cinfo);
  h.denom = denom;
  h.width = static_cast<int>(cinfo.output_width);
  h.height = static_cast<int>(cinfo.output_height);
  return true;
}

// Phase 2: decode into dst (width * height * 3 bytes). Destroys cinfo in every case.
bool readPixels(jpeg_decompress_struct& cinfo, ErrorMgr& err, uint8_t* dst) {
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_start_decompress(&cinfo);
  const size_t stride = size_t(cinfo.output_width) * 3;
  JSAMPROW rows[16];
  while (cinfo.output_scanline < cinfo.output_height) {
    JDIMENSION want = cinfo.output_height - cinfo.output_scanline;
    if (want > 16) want = 16;
    for (JDIMENSION k = 0; k < want; k++) rows[k] = dst + stride * (cinfo.output_scanline + k);
    jpeg_read_scanlines(&cinfo, rows, want);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

Napi::Value DecodeJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "decodeJpeg(bytes: Uint8Array, minShortSide: number, maxPixels: number)");
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  int minShort = info[1].As<Napi::Number>().Int32Value();
  double maxPixels = info[2].As<Napi::Number>().DoubleValue();
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  Header h;
  if (!readHeader(cinfo, err, bytes.Data(), bytes.ByteLength(), minShort < 1 ? 1 : minShort, maxPixels, h)) {
    throw Napi::Error::New(env, err.message[0] != 0 ? err.message : "JPEG decode failed");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("sourceWidth", h.srcWidth);
  out.Set("sourceHeight", h.srcHeight);
  if (h.tooLarge || h.unsupported != nullptr) {
    jpeg_destroy_decompress(&cinfo);
    if (h.tooLarge) out.Set("tooLarge", true);
    else out.Set("unsupported", h.unsupported);
    return out;
  }
  Napi::Buffer<uint8_t> data;
  try {
    data = Napi::Buffer<uint8_t>::New(env, size_t(h.width) * size_t(h.height) * 3);
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  if (!readPixels(cinfo, err, data.Data())) {
    throw Napi::Error::New(env, err.message[0] != 0 ? err.message : "JPEG decode failed");
  }
  out.Set("width", h.width);
  out.Set("height", h.height);
  out.Set("denom", h.denom);
  out.Set("data", data);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Lanczos-3 resampling of a window of the resized image.

double lanczos3(double x) {
  x = std::fabs(x);
  if (x < 1e-9) return 1.0;
  if (x >= 3.0) return 0.0;
  const double px = M_PI * x;
  return 3.0 * std::sin(px) * std::sin(px / 3.0) / (px * px);
}

// Taps of one axis: for output o in [o0, o0 + n) of an in -> out resize, the source indices
// (clamped to the image) and normalized weights; `valid` is false where o lies outside [0, out).
struct Axis {
  std::vector<int> first, count;  // per output: offset into idx/w, tap count (0 = padding)
  std::vector<int> idx;
  std::vector<float> w;
  int lo = 0, hi = -1;  // source range any valid output touches
};

Axis taps(int in, int out, int o0, int n) {
  Axis a;
  a.first.assign(n, 0);
  a.count.assign(n, 0);
  const double scale = double(in) / double(out);
  const double fs = std::max(scale, 1.0);
  const double support = 3.0 * fs;
  a.lo = in;
  std::vector<double> ws;
  for (int j = 0; j < n; j++) {
    const int o = o0 + j;
    if (o < 0 || o >= out) continue;
    const double c = (o + 0.5) * scale - 0.5;
    const int i0 = static_cast<int>(std::ceil(c - support)), i1 = static_cast<int>(std::floor(c + support));
    ws.clear();
    double sum = 0;
    for (int i = i0; i <= i1; i++) {
      const double v = lanczos3((i - c) / fs);
      ws.push_back(v);
      sum += v;
    }
    a.first[j] = static_cast<int>(a.idx.size());
    a.count[j] = i1 - i0 + 1;
    for (int i = i0; i <= i1; i++) {
      const int k = std::min(in - 1, std::max(0, i));
      a.idx.push_back(k);
      a.w.push_back(static_cast<float>(ws[i - i0] / sum));
      a.lo = std::min(a.lo, k);
      a.hi = std::max(a.hi, k);
    }
  }
  return a;
}

Napi::Value ResampleSquare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "resampleSquare(rgb: Uint8Array, w, h, rw, rh, x0, y0, size: integers)";
  if (info.Length() < 8 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, usage);
  int v[7];
  for (int k = 0; k < 7; k++) {
    if (!info[k + 1].IsNumber()) throw Napi::TypeError::New(env, usage);
    v[k] = info[k + 1].As<Napi::Number>().Int32Value();
  }
  const int w = v[0], h = v[1], rw = v[2], rh = v[3], x0 = v[4], y0 = v[5], S = v[6];
  Napi::Uint8Array src = info[0].As<Napi::Uint8Array>();
  if (w < 1 || h < 1 || rw < 1 || rh < 1 || S < 1 || S > 16384 || src.ByteLength() != size_t(w) * size_t(h) * 3) {
    throw Napi::RangeError::New(env, std::string("resampleSquare: ") + std::to_string(src.ByteLength()) + " bytes for " +
                                         std::to_string(w) + "x" + std::to_string(h) + " RGB, resize to " +
                                         std::to_string(rw) + "x" + std::to_string(rh) + ", size " + std::to_string(S));
  }
  const uint8_t* px = src.Data();
  const Axis ax = taps(w, rw, x0, S), ay = taps(h, rh, y0, S);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, size_t(S) * S * 3);
  uint8_t* dst = out.Data();
  std::memset(dst, 0, size_t(S) * S * 3);
  if (ax.hi < ax.lo || ay.hi < ay.lo) return out;  // the window misses the image: all black
  // Horizontal pass over the source rows the vertical taps need: tmp[(y - ay.lo) * S + j] (RGB).
  const int rows = ay.hi - ay.lo + 1;
  std::vector<float> tmp(size_t(rows) * S * 3, 0.f);
  for (int y = 0; y < rows; y++) {
    const uint8_t* row = px + size_t(y + ay.lo) * w * 3;
    float* t = tmp.data() + size_t(y) * S * 3;
    for (int j = 0; j < S; j++) {
      const int n = ax.count[j];
      if (n == 0) continue;
      const int* ix = ax.idx.data() + ax.first[j];
      const float* wt = ax.w.data() + ax.first[j];
      float r = 0, g = 0, b = 0;
      for (int k = 0; k < n; k++) {
        const uint8_t* p = row + size_t(ix[k]) * 3;
        r += wt[k] * p[0];
        g += wt[k] * p[1];
        b += wt[k] * p[2];
      }
      t[j * 3] = r;
      t[j * 3 + 1] = g;
      t[j * 3 + 2] = b;
    }
  }
  // Vertical pass.
  std::vector<float> acc(size_t(S) * 3);
  for (int i = 0; i < S; i++) {
    const int n = ay.count[i];
    if (n == 0) continue;
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int k = 0; k < n; k++) {
      const float wk = ay.w[ay.first[i] + k];
      const float* t = tmp.data() + size_t(ay.idx[ay.first[i] + k] - ay.lo) * S * 3;
      for (int q = 0; q < S * 3; q++) acc[q] += wk * t[q];
    }
    uint8_t* o = dst + size_t(i) * S * 3;
    for (int j = 0; j < S; j++) {
      if (ax.count[j] == 0) continue;
      for (int c = 0; c < 3; c++) {
        const float x = std::nearbyint(acc[j * 3 + c]);
        o[j * 3 + c] = static_cast<uint8_t>(x < 0.f ? 0.f : (x > 255.f ? 255.f : x));
      }
    }
  }
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("decodeJpeg", Napi::Function::New(env, DecodeJpeg, "decodeJpeg"));
  exports.Set("resampleSquare", Napi::Function::New(env, ResampleSquare, "resampleSquare"));
  exports.Set("libjpegVersion", Napi::Number::New(env, JPEG_LIB_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(retalign_image, Init)
