//! Loading a driver image (the shipped `.sys`) into the model, as the kernel loader does.
