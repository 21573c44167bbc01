"""Photo upload, checking, EXIF stripping and storage."""
