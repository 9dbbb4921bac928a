//! Property test placeholder (filled in below).
