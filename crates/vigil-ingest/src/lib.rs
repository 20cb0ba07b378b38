//! Log decoders: bytes from files and streams into [`vigil_core::Event`]s.
