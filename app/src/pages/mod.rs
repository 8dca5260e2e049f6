pub mod board;
pub mod home;
pub mod link_error;
