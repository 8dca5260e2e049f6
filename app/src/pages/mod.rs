pub mod board;
pub mod board_menu;
pub mod history;
pub mod home;
pub mod link_error;
pub mod my_name;
