"""The two cities of the synthetic scenes (domains A and B) and their weathers.

A style is the ranges every scene of a domain draws from: camera, street layout, how busy it
is, and the colours of everything; a weather sets sky, light, shadows, fog and lit windows.
"""



_CLOTHES = ((30, 30, 35), (62, 62, 70), (40, 52, 92), (122, 122, 126), (205, 205, 200),
            (155, 42, 42), (70, 92, 60), (162, 142, 112), (92, 62, 42), (185, 172, 82))


STYLES = {
    'A': dict(  # a temperate European city by day
        camera_height=(1.3, 1.7), horizon=(0.40, 0.48), focal=(0.95, 1.1),
        weather=(('clear', 0.45), ('overcast', 0.45), ('haze', 0.1)),
        lane_width=(3.0, 3.5), lanes=((1, 0.6), (2, 0.4)), parking=0.45, median=0.12,
        barrier=0.0, sidewalk=(2.5, 5.0), lawn=0.35, building_height=(9.0, 26.0), gap=0.28,
        end_block=0.7, intersection=0.6, crosswalk=0.5, tram=0.35, edge_lines=False,
        dashed_centre=True, persons=3.0, cyclists=0.6, trees=0.55, hood=0.5, sign_posts=2.5,
        building=((178, 165, 148), (140, 138, 135), (158, 96, 74), (206, 200, 188),
                  (122, 104, 90), (196, 180, 136), (105, 106, 112), (170, 155, 160),
                  (150, 160, 165)),
        glass=((50, 60, 75), (70, 80, 95), (35, 40, 48), (90, 100, 110)),
        walls=((150, 148, 142), (175, 165, 145), (130, 120, 110), (160, 100, 80)),
        road=((92, 92, 96), (100, 98, 96), (84, 86, 90), (110, 108, 104)),
        walk=((160, 156, 150), (150, 140, 134), (172, 150, 138), (140, 140, 140)),
        vegetation=((62, 98, 42), (78, 112, 50), (54, 86, 44), (92, 118, 60)),
        terrain=((108, 122, 66), (126, 120, 80), (96, 112, 60), (140, 130, 92)),
        marking=(222, 222, 216), centre=(222, 222, 216),
        cars=((190, 190, 192), (30, 30, 34), (235, 235, 232), (120, 122, 126), (150, 30, 30),
              (35, 60, 120), (40, 70, 50), (160, 150, 120), (90, 30, 40)),
        trucks=((230, 230, 228), (200, 200, 200), (60, 90, 150), (200, 60, 40), (240, 200, 60)),
        buses=((235, 200, 50), (220, 220, 215), (190, 40, 40), (40, 90, 160)),
        trams=((200, 30, 40), (235, 235, 230), (240, 200, 40), (40, 90, 160)),
        poles=((95, 98, 100), (60, 62, 64), (130, 130, 128)), light_housing=(35, 35, 35),
        signs=('round', 'blue', 'triangle', 'yield', 'square', 'white', 'back', 'back'),
        clothes=_CLOTHES),
    'B': dict(  # a warmer, wider, greener city seen from a higher camera, in fog or at dusk
        camera_height=(2.1, 2.7), horizon=(0.33, 0.41), focal=(0.8, 0.95),
        weather=(('fog', 0.4), ('dusk', 0.35), ('sunny', 0.25)),
        lane_width=(3.4, 3.9), lanes=((1, 0.3), (2, 0.5), (3, 0.2)), parking=0.3, median=0.45,
        barrier=0.5, sidewalk=(2.0, 4.0), lawn=0.5, building_height=(8.0, 42.0), gap=0.3,
        end_block=0.45, intersection=0.6, crosswalk=0.85, tram=0.06, edge_lines=True,
        dashed_centre=False, persons=2.2, cyclists=0.45, trees=0.65, hood=0.0, sign_posts=2.5,
        building=((226, 188, 170), (168, 206, 196), (230, 202, 128), (198, 122, 92),
                  (118, 138, 160), (236, 230, 214), (94, 100, 120), (92, 122, 142),
                  (210, 160, 170)),
        glass=((60, 90, 110), (90, 120, 140), (40, 45, 55)),
        walls=((200, 190, 170), (170, 175, 180), (190, 150, 120)),
        road=((122, 114, 106), (112, 108, 104), (70, 70, 76)),
        walk=((165, 96, 84), (190, 172, 124), (180, 176, 170)),
        vegetation=((44, 84, 62), (60, 96, 54), (120, 112, 48), (140, 100, 40)),
        terrain=((150, 132, 92), (130, 120, 80), (160, 146, 100)),
        marking=(232, 232, 232), centre=(222, 180, 40),
        cars=((240, 240, 238), (200, 200, 205), (25, 25, 28), (200, 170, 40), (60, 120, 170),
              (170, 60, 30), (100, 100, 104), (60, 110, 80)),
        trucks=((240, 240, 240), (70, 130, 80), (200, 120, 40), (80, 80, 90)),
        buses=((60, 140, 90), (240, 240, 235), (230, 130, 40), (70, 80, 160)),
        trams=((60, 140, 200), (240, 240, 235)),
        poles=((70, 80, 70), (150, 150, 150)), light_housing=(205, 170, 40),
        signs=('diamond', 'green', 'octagon', 'white', 'round', 'back'),
        clothes=_CLOTHES[::2] + ((200, 90, 40), (40, 130, 140), (230, 220, 90))),
}

WEATHER = {  # sky top and horizon colours, light level and tint, shadow strength, fog, lit windows
    'clear': dict(sky=((78, 130, 205), (188, 208, 234)), light=1.05, cast=(1.03, 1.0, 0.95),
                  shadow=0.55, fog=None, lit=0.0),
    'overcast': dict(sky=((150, 156, 168), (205, 207, 212)), light=0.9, cast=(0.97, 0.99, 1.03),
                     shadow=1.0, fog=None, lit=0.0),
    'haze': dict(sky=((120, 150, 190), (214, 216, 220)), light=1.0, cast=(1.0, 1.0, 1.0),
                 shadow=0.75, fog=((212, 214, 218), (250.0, 500.0)), lit=0.0),
    'fog': dict(sky=((186, 188, 192), (196, 198, 200)), light=0.85, cast=(0.98, 1.0, 1.02),
                shadow=1.0, fog=((190, 192, 196), (25.0, 70.0)), lit=0.05),
    'dusk': dict(sky=((38, 40, 92), (240, 145, 80)), light=0.5, cast=(1.12, 0.92, 0.8),
                 shadow=1.0, fog=None, lit=0.45),
    'sunny': dict(sky=((55, 115, 222), (168, 200, 242)), light=1.12, cast=(1.07, 1.0, 0.9),
                  shadow=0.5, fog=None, lit=0.0),
}


def check_domain(domain):
  if domain not in STYLES:
    raise ValueError(f'unknown synthetic domain {domain!r}; expected one of {tuple(STYLES)}')
