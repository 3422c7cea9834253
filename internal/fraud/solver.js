// solver.js solves the proof-of-work challenges of ringfence's fraud guard.
//
// ringfenceSolve(token, difficulty) returns a promise of the smallest nonce
// (a decimal string) such that SHA-256(token + ":" + nonce) starts with
// `difficulty` zero bits. Send token + ":" + nonce back with the next request.
// It runs in browsers and in Node.js (as a module, or with globalThis).
(function (root) {
  "use strict";

  var BATCH = 256; // digests in flight at once

  function zeroBits(digest) {
    var bytes = new Uint8Array(digest);
    var n = 0;
    for (var i = 0; i < bytes.length; i++) {
      var b = bytes[i];
      if (b === 0) {
        n += 8;
        continue;
      }
      while ((b & 0x80) === 0) {
        n++;
        b <<= 1;
      }
      break;
    }
    return n;
  }

  async function ringfenceSolve(token, difficulty) {
    var subtle = root.crypto && root.crypto.subtle;
    if (!subtle) {
      throw new Error("ringfenceSolve: crypto.subtle is not available (a secure context is needed)");
    }
    var enc = new TextEncoder();
    for (var base = 0; base < Number.MAX_SAFE_INTEGER; base += BATCH) {
      var jobs = [];
      for (var i = 0; i < BATCH; i++) {
        jobs.push(subtle.digest("SHA-256", enc.encode(token + ":" + (base + i))));
      }
      var digests = await Promise.all(jobs);
      for (var j = 0; j < BATCH; j++) {
        if (zeroBits(digests[j]) >= difficulty) {
          return String(base + j);
        }
      }
    }
    throw new Error("ringfenceSolve: no nonce found");
  }

  root.ringfenceSolve = ringfenceSolve;
  if (typeof module === "object" && module.exports) {
    module.exports = { ringfenceSolve: ringfenceSolve };
  }
})(typeof globalThis !== "undefined" ? globalThis : this);
